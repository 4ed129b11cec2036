"""How faithful is a circuit: the metric with every edge outside it patched to corrupted.

Per batch, the corrupted run is recorded once (:func:`~mechcirc.analyses.eap.corrupted_run
.record_corrupted`) and shared by every circuit evaluated on that batch; each circuit then
costs one patched forward of the clean input (:class:`~mechcirc.analyses.eap.patching
.CircuitPatch`), which patches only the destinations that need it. The recorded runs are
kept between evaluations while their running total stays under the cache limit (the model's
own weight size, at most ``CACHE_LIMIT_BYTES``); a batch past it is recorded again whenever it
is evaluated, once for all the circuits of that call (:meth:`FaithfulnessEvaluator
.evaluate_many`), so memory does not grow with the number of prompts. The empty circuit is the
corrupted run and the full circuit the clean run; neither needs a forward. Reported, as
dataset means of the per-example metric:

- ``clean`` and ``corrupted`` baselines and the ``circuit`` value;
- ``normalized = (circuit - corrupted) / (clean - corrupted)``: 1 for the full graph, 0 for
  the empty one (nan when the baselines are equal);
- ``fraction_of_clean = circuit / clean``: the criterion of Tigges et al. (2024).

The searches for the smallest circuit reaching a target are in
:mod:`mechcirc.analyses.eap.search`.

Example:
    >>> evaluator = FaithfulnessEvaluator(model, pairs)                       # doctest: +SKIP
    >>> evaluator.evaluate(graph.select("greedy", n=300)).normalized          # doctest: +SKIP
    0.83
    >>> [f.normalized for f in evaluator.evaluate_many([c100, c200])]         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.analyses.eap.corrupted_run import CorruptedRun, record_corrupted
from mechcirc.analyses.eap.forward import run_metric
from mechcirc.analyses.eap.model_parts import ModelParts, attribution_mode
from mechcirc.analyses.eap.patch_plan import PatchPlan
from mechcirc.analyses.eap.patching import CircuitPatch
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.models.protocol import HookedModel
from mechcirc.tasks import PromptPairs
from mechcirc.tasks.metrics import BaselineGap, baseline_gap

__all__ = ["CACHE_LIMIT_BYTES", "Faithfulness", "FaithfulnessEvaluator", "cache_limit"]

log = logging.getLogger(__name__)

# Recorded corrupted runs are kept between evaluations while their running total stays below
# the model's weight size and below this.
CACHE_LIMIT_BYTES = 1 << 30
Criterion = Literal["normalized", "fraction-of-clean"]
Circuit = CircuitGraph | Bool[Tensor, "n_src n_dst"]


@dataclass(frozen=True)
class Faithfulness:
    """The metric (dataset mean) of a circuit next to the clean and corrupted baselines."""

    n_edges: int
    circuit: float
    clean: float
    corrupted: float

    @property
    def normalized(self) -> float:
        gap = self.clean - self.corrupted
        return (self.circuit - self.corrupted) / gap if gap else math.nan

    @property
    def fraction_of_clean(self) -> float:
        return self.circuit / self.clean if self.clean else math.nan

    def score(self, criterion: Criterion) -> float:
        return self.normalized if criterion == "normalized" else self.fraction_of_clean

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "normalized": self.normalized,
            "fraction_of_clean": self.fraction_of_clean,
        }


def cache_limit(model: HookedModel) -> int:
    """Bytes of recorded corrupted runs kept between evaluations: the model's weight size
    (what the process holds anyway, whatever the number of prompts), at most
    ``CACHE_LIMIT_BYTES``."""
    params = {id(p): p for p in model.parameters()}.values()
    return min(CACHE_LIMIT_BYTES, sum(p.numel() * p.element_size() for p in params))


class FaithfulnessEvaluator:
    """Baselines computed once; then one patched forward per batch per circuit, plus one
    corrupted forward per batch and call for the batches past the cache limit.

    Args:
        model: a TransformerBridge.
        pairs: the prompt pairs to evaluate on.
        batch_size: examples per forward pass.
        cache_bytes: the cache limit (default :func:`cache_limit`).
    """

    def __init__(
        self,
        model: HookedModel,
        pairs: PromptPairs,
        *,
        batch_size: int = 32,
        cache_bytes: int | None = None,
    ) -> None:
        self.model, self.pairs, self.batch_size = model, pairs, batch_size
        self.parts = ModelParts.from_model(model)
        self.device = next(model.parameters()).device
        limit = cache_limit(model) if cache_bytes is None else cache_bytes
        clean, corrupted = [], []
        self._cache: list[CorruptedRun | None] = []
        recorded = 0
        with attribution_mode(model), torch.no_grad():
            for batch in self._batches():
                run = record_corrupted(model, self.parts, batch)
                corrupted.append(run.metric.double().cpu())
                clean.append(run_metric(model, batch.clean, batch).double().cpu())
                recorded += run.nbytes
                self._cache.append(run if recorded <= limit else None)
                del run
        self.cached_batches = sum(run is not None for run in self._cache)
        self.baselines: BaselineGap = baseline_gap(torch.cat(clean), torch.cat(corrupted))
        self.clean, self.corrupted = self.baselines.clean, self.baselines.corrupted

    @property
    def fully_cached(self) -> bool:
        """Every batch's corrupted run is kept: an evaluation costs patched forwards only."""
        return self.cached_batches == len(self._cache)

    def _batches(self) -> Iterator[PromptPairs]:
        for batch in self.pairs.batches(self.batch_size):
            yield batch.to(self.device)

    def _mask(self, circuit: Circuit) -> Bool[Tensor, "n_src n_dst"]:
        in_graph = circuit.in_graph if isinstance(circuit, CircuitGraph) else circuit
        layout = self.parts.layout
        if tuple(in_graph.shape) != (layout.n_src, layout.n_dst):
            raise UsageError(
                f"in_graph must be [n_src, n_dst] = [{layout.n_src}, {layout.n_dst}], "
                f"got {list(in_graph.shape)}"
            )
        return in_graph

    def evaluate(self, circuit: Circuit) -> Faithfulness:
        """Faithfulness of ``circuit`` (a graph's ``in_graph`` or the mask itself)."""
        return self.evaluate_many([circuit])[0]

    def evaluate_many(self, circuits: Sequence[Circuit]) -> list[Faithfulness]:
        """Faithfulness of each circuit, batch by batch: each batch's corrupted run is
        recorded (or read from the cache) once for all of them."""
        plans = [PatchPlan.from_mask(self.parts.layout, self._mask(c)) for c in circuits]
        to_run = {i: plan.to(self.device) for i, plan in enumerate(plans) if _needs_forward(plan)}
        totals = dict.fromkeys(to_run, 0.0)
        if to_run:
            with attribution_mode(self.model), torch.no_grad():
                for batch, cached in zip(self._batches(), self._cache, strict=True):
                    run = cached or record_corrupted(self.model, self.parts, batch)
                    for i, plan in to_run.items():
                        hooks = CircuitPatch(self.model, self.parts, plan, run).hooks()
                        metric = run_metric(self.model, batch.clean, batch, hooks)
                        totals[i] += float(metric.double().sum())
        results = []
        for i, plan in enumerate(plans):
            value = self.clean if plan.is_clean else self.corrupted
            if i in totals:
                value = totals[i] / len(self.pairs)
            results.append(Faithfulness(plan.n_edges, value, self.clean, self.corrupted))
        return results


def _needs_forward(plan: PatchPlan) -> bool:
    """The empty circuit is the corrupted run and the full one the clean run."""
    return not (plan.is_clean or plan.is_corrupted)
