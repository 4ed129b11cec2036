"""How faithful is a circuit: the metric with every edge outside it patched to corrupted.

Per batch, evaluating a circuit costs one corrupted forward (its source activations) and one
patched forward of the clean input (:class:`~mechcirc.analyses.eap.patching.CircuitPatch`),
whatever the circuit's size. Reported, as dataset means of the per-example metric:

- ``clean`` and ``corrupted`` baselines and the ``circuit`` value;
- ``normalized = (circuit - corrupted) / (clean - corrupted)``: 1 for the full graph, 0 for
  the empty one;
- ``fraction_of_clean = circuit / clean``: the 80% criterion of Tigges et al. (2024).

:func:`smallest_circuit` searches edge counts (binary search over greedy circuits) for the
smallest circuit whose normalized faithfulness reaches a target.

Example:
    >>> evaluator = FaithfulnessEvaluator(model, pairs)                       # doctest: +SKIP
    >>> evaluator.evaluate(graph.select("greedy", n=300)).normalized          # doctest: +SKIP
    0.83
    >>> search = smallest_circuit(evaluator, graph, target=0.8)               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.analyses.eap.forward import run_metric
from mechcirc.analyses.eap.model_parts import ModelParts, attribution_mode
from mechcirc.analyses.eap.patching import CircuitPatch, corrupted_sources
from mechcirc.errors import MechcircError, UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.tasks import PromptPairs

log = logging.getLogger(__name__)

DEFAULT_TARGET = 0.8
# Corrupted activations of the whole dataset are kept between evaluations below this size.
CACHE_LIMIT_BYTES = 1 << 30
# Clean and corrupted mean metrics closer than this (relative, or absolute near 0) count as equal.
BASELINE_REL_TOL, BASELINE_ABS_TOL = 1e-6, 1e-9


def check_baselines_differ(clean: float, corrupted: float, quantity: str) -> None:
    """Raise ``MechcircError`` when the clean and corrupted mean metrics are (nearly) equal, so
    that ``quantity``, normalized by ``clean - corrupted``, would be undefined."""
    if math.isclose(clean, corrupted, rel_tol=BASELINE_REL_TOL, abs_tol=BASELINE_ABS_TOL):
        raise MechcircError(
            f"clean and corrupted runs give the same mean metric ({clean:.6g} vs "
            f"{corrupted:.6g}): {quantity} is undefined; use a task whose corruption changes "
            "the model's answer"
        )


@dataclass(frozen=True)
class Faithfulness:
    """The metric (dataset mean) of a circuit next to the clean and corrupted baselines."""

    n_edges: int
    circuit: float
    clean: float
    corrupted: float

    @property
    def normalized(self) -> float:
        return (self.circuit - self.corrupted) / (self.clean - self.corrupted)

    @property
    def fraction_of_clean(self) -> float:
        return self.circuit / self.clean if self.clean else float("nan")

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "normalized": self.normalized,
            "fraction_of_clean": self.fraction_of_clean,
        }


class FaithfulnessEvaluator:
    """Baselines computed once; then one corrupted + one patched forward per batch per circuit.

    Args:
        model: a TransformerBridge.
        pairs: the prompt pairs to evaluate on.
        batch_size: examples per forward pass.
    """

    def __init__(self, model, pairs: PromptPairs, *, batch_size: int = 32) -> None:
        self.model, self.pairs, self.batch_size = model, pairs, batch_size
        self.parts = ModelParts.from_model(model)
        self.device = next(model.parameters()).device
        clean = corrupted = 0.0
        cache: list[Tensor] = []
        with attribution_mode(model), torch.no_grad():
            for batch in self._batches():
                sources, metric = corrupted_sources(model, self.parts, batch)
                corrupted += float(metric.double().sum())
                clean += float(run_metric(model, batch.clean, batch).double().sum())
                cache.append(sources)
        n = len(pairs)
        self.clean, self.corrupted = clean / n, corrupted / n
        size = sum(t.numel() * t.element_size() for t in cache)
        self._cache = cache if size <= CACHE_LIMIT_BYTES else None
        check_baselines_differ(self.clean, self.corrupted, "normalized faithfulness")

    def _batches(self):
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


def evaluate_circuit(
    model, pairs: PromptPairs, circuit: CircuitGraph, *, batch_size: int = 32
) -> Faithfulness:
    """Faithfulness of one circuit (baselines included); see :class:`FaithfulnessEvaluator`."""
    return FaithfulnessEvaluator(model, pairs, batch_size=batch_size).evaluate(circuit)


@dataclass(frozen=True)
class CircuitSearch:
    """A selected circuit, its faithfulness, how it was chosen and every size evaluated."""

    circuit: CircuitGraph
    faithfulness: Faithfulness
    selection: str
    target: float | None = None
    reached: bool | None = None
    evaluated: list[dict] = field(default_factory=list)


def select_circuit(
    evaluator: FaithfulnessEvaluator,
    graph: CircuitGraph,
    *,
    top_n: int | None = None,
    threshold: float | None = None,
    target: float = DEFAULT_TARGET,
    absolute: bool = True,
) -> CircuitSearch:
    """The circuit ``mechcirc eap`` reports: the ``top_n`` edges grown greedily from the
    logits, every edge with ``|score| >= threshold``, or (neither given) the smallest greedy
    circuit reaching ``target`` (:func:`smallest_circuit`); evaluated by ``evaluator``.

    Example:
        >>> search = select_circuit(evaluator, result.graph, top_n=200)  # doctest: +SKIP
        >>> search.faithfulness.normalized                               # doctest: +SKIP
    """
    if top_n is not None and threshold is not None:
        raise UsageError("give top_n or threshold, not both")
    if top_n is None and threshold is None:
        return smallest_circuit(evaluator, graph, target=target, absolute=absolute)
    if top_n is not None:
        n = min(top_n, graph.layout.n_edges)
        circuit, selection = graph.select("greedy", n=n, absolute=absolute), f"greedy, top {n}"
    else:
        circuit = graph.select("threshold", threshold=threshold, absolute=absolute)
        selection = f"threshold {threshold}"
    return CircuitSearch(circuit, evaluator.evaluate(circuit), selection)


def smallest_circuit(
    evaluator: FaithfulnessEvaluator,
    graph: CircuitGraph,
    *,
    target: float = DEFAULT_TARGET,
    absolute: bool = True,
) -> CircuitSearch:
    """Binary search over edge counts for the smallest greedy circuit with
    ``normalized >= target``.

    Faithfulness need not grow monotonically with the edge count; the search returns a size
    ``n`` that reaches the target while ``n - 1`` (as evaluated along the search) does not.
    """
    if not 0 < target <= 1:
        raise UsageError(f"faithfulness target must be in (0, 1], got {target}")
    evaluated: dict[int, Faithfulness] = {}

    def faith(n: int) -> Faithfulness:
        if n not in evaluated:
            evaluated[n] = evaluator.evaluate(graph.select("greedy", n=n, absolute=absolute))
            log.info(
                "greedy circuit of %d edges: normalized faithfulness %.4f",
                n,
                evaluated[n].normalized,
            )
        return evaluated[n]

    low, high = 0, graph.layout.n_edges
    reached = faith(high).normalized >= target
    while reached and high - low > 1:
        middle = (low + high) // 2
        if faith(middle).normalized >= target:
            high = middle
        else:
            low = middle
    circuit = graph.select("greedy", n=high, absolute=absolute)
    curve = [{"n_edges": n, **evaluated[n].to_dict()} for n in sorted(evaluated)]
    selection = f"smallest greedy circuit reaching {target}"
    return CircuitSearch(circuit, evaluated[high], selection, target, reached, curve)
