"""The circuit ``mechcirc eap`` reports: an explicit selection, or the smallest one that is
faithful enough.

Two searches for the smallest greedy circuit reaching a target (:func:`smallest_circuit`):

- ``criterion="normalized"``: binary search over greedy circuits of every size;
- ``criterion="fraction-of-clean"`` (Tigges et al.): greedy circuits of ``step``, ``2 step``,
  ... edges up to ``cap``; the first size with ``circuit / clean >= target`` is then refined
  by binary search between it and the size before. The sizes are known up front, so when some
  batches' corrupted runs are not cached they are evaluated ``LINEAR_CHUNK`` at a time, batch
  by batch (one corrupted forward per batch for the whole chunk).

Example:
    >>> search = smallest_circuit(evaluator, graph, target=0.8)               # doctest: +SKIP
    >>> search.circuit.n_edges_in_graph, search.faithfulness.normalized       # doctest: +SKIP
    (212, 0.81)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tqdm.auto import tqdm

from mechcirc.analyses.eap.faithfulness import Criterion, Faithfulness, FaithfulnessEvaluator
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph

__all__ = [
    "CRITERIA",
    "DEFAULT_TARGET",
    "LINEAR_CHUNK",
    "SELECTIONS",
    "CircuitSearch",
    "select_circuit",
    "smallest_circuit",
]

log = logging.getLogger(__name__)

DEFAULT_TARGET = 0.8
CRITERIA: tuple[str, ...] = ("normalized", "fraction-of-clean")
# One vocabulary with CircuitGraph.select: the smallest circuit, or an explicit selection.
Selection = Literal["smallest", "greedy", "topn", "threshold"]
SELECTIONS: tuple[str, ...] = ("smallest", "greedy", "topn", "threshold")
# Sizes of the linear search evaluated per pass over the data when not every batch is cached.
LINEAR_CHUNK = 8


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
    progress: bool = False,
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
            progress=progress,
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
    progress: bool = False,
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
    bar = tqdm(desc="circuit search", unit="circuit", disable=not progress)

    def evaluate(sizes: list[int]) -> None:
        sizes = [n for n in dict.fromkeys(sizes) if n not in evaluated]
        circuits = [graph.select("greedy", n=n, absolute=absolute) for n in sizes]
        for n, result in zip(sizes, evaluator.evaluate_many(circuits), strict=True):
            evaluated[n] = result
            log.info("greedy circuit of %d edges: %s %.4f", n, criterion, result.score(criterion))
        bar.update(len(sizes))

    def reaches(n: int) -> bool:
        evaluate([n])
        return evaluated[n].score(criterion) >= target

    n_edges = graph.layout.n_edges
    if criterion == "normalized":
        low, high, reached = 0, n_edges, reaches(n_edges)
    else:
        chunk = 1 if evaluator.fully_cached else LINEAR_CHUNK
        low, high, reached = _linear_search(evaluate, reaches, step, min(cap, n_edges), chunk)
    while reached and high - low > 1:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    bar.close()
    circuit = graph.select("greedy", n=high, absolute=absolute)
    # "size" is the greedy size asked for; "n_edges" what the pruned circuit holds
    curve = [{"size": n, **evaluated[n].to_dict()} for n in sorted(evaluated)]
    selection = f"smallest greedy circuit with {criterion} >= {target}"
    return CircuitSearch(circuit, evaluated[high], selection, target, reached, curve, high)


def _linear_search(
    evaluate: Callable[[list[int]], None],
    reaches: Callable[[int], bool],
    step: int,
    cap: int,
    chunk: int,
) -> tuple[int, int, bool]:
    """``(previous size, first size reaching the target or the cap, reached)``; the sizes are
    evaluated ``chunk`` at a time."""
    if step < 1 or cap < 1:
        raise UsageError(f"search step and cap must be positive, got step={step}, cap={cap}")
    sizes = [*range(step, cap, step), cap]
    previous = 0
    for i, n in enumerate(sizes):
        if i % chunk == 0:
            evaluate(sizes[i : i + chunk])
        if reaches(n):
            return previous, n, True
        previous = n
    return previous, cap, False
