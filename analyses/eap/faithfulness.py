"""How faithful is a circuit: the metric with every edge outside it patched to corrupted.

Per batch, evaluating a circuit costs one corrupted forward (its source activations) and one
patched forward of the clean input (:class:`~mechcirc.analyses.eap.patching.CircuitPatch`),
whatever the circuit's size. The corrupted sources are cached between evaluations while their
running total stays under ``CACHE_LIMIT_BYTES``; past it nothing is kept, so memory does not
grow with the number of prompts. Reported, as dataset means of the per-example metric:

- ``clean`` and ``corrupted`` baselines and the ``circuit`` value;
- ``normalized = (circuit - corrupted) / (clean - corrupted)``: 1 for the full graph, 0 for
  the empty one (nan when the baselines are equal);
- ``fraction_of_clean = circuit / clean``: the criterion of Tigges et al. (2024).

Two searches for the smallest circuit reaching a target (:func:`smallest_circuit`):

- ``criterion="normalized"``: binary search over greedy circuits of every size;
- ``criterion="fraction-of-clean"`` (Tigges et al.): greedy circuits of ``step``, ``2 step``,
  ... edges up to ``cap``; the first size with ``circuit / clean >= target`` is then refined
  by binary search between it and the size before.

Example:
    >>> evaluator = FaithfulnessEvaluator(model, pairs)                       # doctest: +SKIP
    >>> evaluator.evaluate(graph.select("greedy", n=300)).normalized          # doctest: +SKIP
    0.83
    >>> search = smallest_circuit(evaluator, graph, target=0.8)               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.analyses.eap.forward import run_metric
from mechcirc.analyses.eap.model_parts import ModelParts, attribution_mode
from mechcirc.analyses.eap.patching import CircuitPatch, corrupted_sources
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.models.protocol import HookedModel
from mechcirc.tasks import PromptPairs
from mechcirc.tasks.metrics import BaselineGap, baseline_gap

__all__ = [
    "CRITERIA",
    "DEFAULT_TARGET",
    "SELECTIONS",
    "CircuitSearch",
    "Faithfulness",
    "FaithfulnessEvaluator",
    "select_circuit",
    "smallest_circuit",
]

log = logging.getLogger(__name__)

DEFAULT_TARGET = 0.8
# Corrupted activations are kept between evaluations while their running total stays below.
CACHE_LIMIT_BYTES = 1 << 30
Criterion = Literal["normalized", "fraction-of-clean"]
CRITERIA: tuple[str, ...] = ("normalized", "fraction-of-clean")
# One vocabulary with CircuitGraph.select: the smallest circuit, or an explicit selection.
Selection = Literal["smallest", "greedy", "topn", "threshold"]
SELECTIONS: tuple[str, ...] = ("smallest", "greedy", "topn", "threshold")


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


class FaithfulnessEvaluator:
    """Baselines computed once; then one corrupted + one patched forward per batch per circuit
    (the corrupted forward is skipped while its sources fit the cache).

    Args:
        model: a TransformerBridge.
        pairs: the prompt pairs to evaluate on.
        batch_size: examples per forward pass.
    """

    def __init__(self, model: HookedModel, pairs: PromptPairs, *, batch_size: int = 32) -> None:
        self.model, self.pairs, self.batch_size = model, pairs, batch_size
        self.parts = ModelParts.from_model(model)
        self.device = next(model.parameters()).device
        clean, corrupted = [], []
        cache: list[Tensor] | None = []
        cached_bytes = 0
        with attribution_mode(model), torch.no_grad():
            for batch in self._batches():
                sources, metric = corrupted_sources(model, self.parts, batch)
                corrupted.append(metric.double().cpu())
                clean.append(run_metric(model, batch.clean, batch).double().cpu())
                cached_bytes += sources.numel() * sources.element_size()
                if cache is not None and cached_bytes <= CACHE_LIMIT_BYTES:
                    cache.append(sources)
                else:
                    cache = None  # past the limit: recompute per evaluation, keep nothing
                del sources
        self._cache = cache
        self.baselines: BaselineGap = baseline_gap(torch.cat(clean), torch.cat(corrupted))
        self.clean, self.corrupted = self.baselines.clean, self.baselines.corrupted

    def _batches(self) -> Iterator[PromptPairs]:
        for batch in self.pairs.batches(self.batch_size):
            yield batch.to(self.device)

    def evaluate(self, circuit: CircuitGraph | Bool[Tensor, "n_src n_dst"]) -> Faithfulness:
        """Faithfulness of ``circuit`` (a graph's ``in_graph`` or the mask itself)."""
        in_graph = circuit.in_graph if isinstance(circuit, CircuitGraph) else circuit
        layout = self.parts.layout
        if tuple(in_graph.shape) != (layout.n_src, layout.n_dst):
            raise UsageError(
                f"in_graph must be [n_src, n_dst] = [{layout.n_src}, {layout.n_dst}], "
                f"got {list(in_graph.shape)}"
            )
        in_graph = in_graph.to(self.device, torch.bool)
        total = 0.0
        with attribution_mode(self.model), torch.no_grad():
            for i, batch in enumerate(self._batches()):
                if self._cache is not None:
                    sources = self._cache[i]
                else:
                    sources, _ = corrupted_sources(self.model, self.parts, batch)
                patch = CircuitPatch(self.model, self.parts, in_graph, sources)
                total += float(
                    run_metric(self.model, batch.clean, batch, patch.hooks()).double().sum()
                )
        n_edges = int((in_graph.cpu() & layout.real_edges).sum())
        return Faithfulness(n_edges, total / len(self.pairs), self.clean, self.corrupted)


@dataclass(frozen=True)
class CircuitSearch:
    """A selected circuit, its faithfulness, how it was chosen and every size evaluated."""

    circuit: CircuitGraph
    faithfulness: Faithfulness
    selection: str
    target: float | None = None
    reached: bool | None = None
    evaluated: list[dict] = field(default_factory=list)
    size: int | None = None  # the greedy size searched for (pruning may leave fewer edges)


def select_circuit(
    evaluator: FaithfulnessEvaluator,
    graph: CircuitGraph,
    selection: Selection = "smallest",
    *,
    n: int | None = None,
    threshold: float | None = None,
    target: float = DEFAULT_TARGET,
    criterion: Criterion = "normalized",
    step: int = 25,
    cap: int = 1600,
    absolute: bool = True,
) -> CircuitSearch:
    """The circuit ``mechcirc eap`` reports, named as :meth:`CircuitGraph.select` names them:
    ``"greedy"`` (``n`` edges grown from the logits), ``"topn"`` (the ``n`` best edges),
    ``"threshold"`` (every edge with ``|score| >= threshold``), or ``"smallest"`` (the
    smallest greedy circuit reaching ``target``, :func:`smallest_circuit`).

    Example:
        >>> search = select_circuit(evaluator, result.graph, "greedy", n=200)  # doctest: +SKIP
        >>> search.faithfulness.normalized                                     # doctest: +SKIP
    """
    if selection not in SELECTIONS:
        raise UsageError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if selection == "smallest":
        return smallest_circuit(
            evaluator,
            graph,
            target=target,
            criterion=criterion,
            step=step,
            cap=cap,
            absolute=absolute,
        )
    if selection == "threshold":
        circuit = graph.select("threshold", threshold=threshold, absolute=absolute)
        label = f"threshold {threshold}"
    else:
        if n is None:
            raise UsageError(f"selection {selection!r} needs n, the number of edges")
        n = min(n, graph.layout.n_edges)
        circuit = graph.select(selection, n=n, absolute=absolute)
        label = f"{selection}, {n} edges"
    return CircuitSearch(circuit, evaluator.evaluate(circuit), label)


def smallest_circuit(
    evaluator: FaithfulnessEvaluator,
    graph: CircuitGraph,
    *,
    target: float = DEFAULT_TARGET,
    criterion: Criterion = "normalized",
    step: int = 25,
    cap: int = 1600,
    absolute: bool = True,
) -> CircuitSearch:
    """The smallest greedy circuit whose ``criterion`` reaches ``target`` (see module doc).

    Faithfulness need not grow monotonically with the edge count; the search returns a size
    ``n`` that reaches the target while ``n - 1`` (as evaluated along the search) does not.
    When no size reaches it, the largest size tried is returned with ``reached=False``.
    """
    if criterion not in CRITERIA:
        raise UsageError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if not (isinstance(target, int | float) and math.isfinite(target) and 0 < target <= 1):
        raise UsageError(f"faithfulness target must be in (0, 1], got {target!r}")
    evaluated: dict[int, Faithfulness] = {}

    def reaches(n: int) -> bool:
        if n not in evaluated:
            evaluated[n] = evaluator.evaluate(graph.select("greedy", n=n, absolute=absolute))
            log.info(
                "greedy circuit of %d edges: %s %.4f", n, criterion, evaluated[n].score(criterion)
            )
        return evaluated[n].score(criterion) >= target

    n_edges = graph.layout.n_edges
    if criterion == "normalized":
        low, high, reached = 0, n_edges, reaches(n_edges)
    else:
        low, high, reached = _linear_search(reaches, step, min(cap, n_edges))
    while reached and high - low > 1:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    circuit = graph.select("greedy", n=high, absolute=absolute)
    # "size" is the greedy size asked for; "n_edges" what the pruned circuit holds
    curve = [{"size": n, **evaluated[n].to_dict()} for n in sorted(evaluated)]
    selection = f"smallest greedy circuit with {criterion} >= {target}"
    return CircuitSearch(circuit, evaluated[high], selection, target, reached, curve, high)


def _linear_search(reaches: Callable[[int], bool], step: int, cap: int) -> tuple[int, int, bool]:
    """``(previous size, first size reaching the target or the cap, reached)``."""
    if step < 1 or cap < 1:
        raise UsageError(f"search step and cap must be positive, got step={step}, cap={cap}")
    previous = 0
    for n in [*range(step, cap, step), cap]:
        if reaches(n):
            return previous, n, True
        previous = n
    return previous, cap, False
