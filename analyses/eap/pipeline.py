"""The EAP main job as one library call: attribute, select a circuit, measure its faithfulness.

``find_circuit(model, pairs, EAPConfig(...))`` is what ``mechcirc eap`` and every sweep unit
run. Without a run folder nothing touches the disk; with one, every output is written into it:
``examples.jsonl``, ``graph.json`` (EAP-IG format), ``scores.safetensors``, ``circuit.svg``,
``circuit.dot``, ``faithfulness.json`` (with the faithfulness-vs-size curve), and the
manifest's metrics and timings.

When the clean and corrupted baselines are within noise of each other (or inverted, as at a
checkpoint before the task is learned) the smallest-circuit search is skipped: normalized
faithfulness would be noise. The result says so (``baselines.problem``), and an explicit
selection (``greedy``, ``topn``, ``threshold``) is still evaluated.

Example:
    >>> from mechcirc.analyses.eap import EAPConfig, find_circuit
    >>> config = EAPConfig(method="eap-ig-inputs", ig_steps=5)
    >>> result = find_circuit(model, pairs, config)                      # doctest: +SKIP
    >>> result.circuit.n_edges_in_graph, result.faithfulness.normalized  # doctest: +SKIP
    (212, 0.81)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from mechcirc.analyses.eap.attribution import (
    DEFAULT_IG_STEPS,
    DEFAULT_METHOD,
    METHODS,
    Attribution,
    attribute,
)
from mechcirc.analyses.eap.faithfulness import Faithfulness, FaithfulnessEvaluator
from mechcirc.analyses.eap.search import (
    CRITERIA,
    DEFAULT_TARGET,
    SELECTIONS,
    CircuitSearch,
    select_circuit,
)
from mechcirc.config import Config, require_finite, require_in, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.models.memory import release_freed_memory
from mechcirc.models.protocol import HookedModel
from mechcirc.runs import RunFolder
from mechcirc.tasks import PromptPairs
from mechcirc.tasks.io import write_jsonl
from mechcirc.tasks.metrics import BaselineGap

__all__ = ["OUTPUT_FILES", "CircuitRun", "EAPConfig", "find_circuit"]

log = logging.getLogger(__name__)

OUTPUT_FILES = (
    "examples.jsonl",
    "graph.json",
    "scores.safetensors",
    "circuit.svg",
    "circuit.dot",
    "faithfulness.json",
)


@dataclass(frozen=True)
class EAPConfig(Config):
    """Settings of :func:`find_circuit`.

    Attributes:
        method: attribution method (``eap-ig-inputs``, ``eap``, ``eap-ig-activations``,
            ``clean-corrupted``, ``exact``).
        ig_steps: interpolation steps of the integrated-gradient methods.
        batch_size: examples per forward pass (results do not depend on it).
        selection: ``smallest`` (default: the smallest greedy circuit reaching ``target``),
            ``greedy`` / ``topn`` (``n_edges`` edges), ``threshold`` (``|score| >= threshold``).
        criterion: what ``smallest`` must reach: ``normalized`` faithfulness (binary search)
            or ``fraction-of-clean`` (Tigges et al.: ``circuit / clean``, linear search in
            steps of ``search_step`` edges up to ``search_cap``, refined between the last two).
        signed: rank edges by signed score instead of ``|score|``.
    """

    method: str = DEFAULT_METHOD
    ig_steps: int = DEFAULT_IG_STEPS
    batch_size: int = 32
    selection: str = "smallest"
    n_edges: int | None = None
    threshold: float | None = None
    target: float = DEFAULT_TARGET
    criterion: str = "normalized"
    search_step: int = 25
    search_cap: int = 1600
    signed: bool = False

    PRESETS = {
        "tigges": {
            "criterion": "fraction-of-clean",
            "target": 0.8,
            "search_step": 25,
            "search_cap": 1600,
        },
    }

    def validate(self) -> None:
        require_in("method", self.method, METHODS)
        require_positive_int("ig_steps", self.ig_steps)
        require_positive_int("batch_size", self.batch_size)
        require_in("selection", self.selection, SELECTIONS)
        require_in("criterion", self.criterion, CRITERIA)
        require_range("target", self.target, 0, 1, low_open=True)
        require_positive_int("search_step", self.search_step)
        require_positive_int("search_cap", self.search_cap)
        wants_n = self.selection in ("greedy", "topn")
        if wants_n:
            require_positive_int("n_edges", self.n_edges)
        elif self.n_edges is not None:
            raise UsageError(
                f"n_edges applies to the greedy and topn selections, not {self.selection!r}"
            )
        if self.selection == "threshold":
            if self.threshold is None:
                raise UsageError("selection 'threshold' needs a threshold (an edge score)")
            require_finite("threshold", self.threshold)
        elif self.threshold is not None:
            raise UsageError(
                f"threshold applies to the threshold selection, not {self.selection!r}"
            )


@dataclass(frozen=True)
class CircuitRun:
    """What :func:`find_circuit` found: the attribution, the selected circuit and its
    faithfulness, the baselines' gap, and timings."""

    config: EAPConfig
    metric: str  # the task's metric name (logit_diff, prob_diff)
    attribution: Attribution
    search: CircuitSearch | None  # None when the search was skipped (baselines within noise)
    baselines: BaselineGap
    timings: dict[str, float]

    @property
    def circuit(self) -> CircuitGraph:
        """The selected circuit; an empty one when the search was skipped."""
        if self.search is None:
            graph = self.attribution.graph
            return graph.select("greedy", n=0, absolute=not self.config.signed)
        return self.search.circuit

    @property
    def faithfulness(self) -> Faithfulness | None:
        return None if self.search is None else self.search.faithfulness

    def metrics(self) -> dict[str, Any]:
        """Headline numbers, as the manifest and the sweep tables record them."""
        circuit, faith = self.circuit, self.faithfulness
        values = (
            faith.to_dict()
            if faith
            else {
                "n_edges": 0,
                "circuit": math.nan,
                "clean": self.baselines.clean,
                "corrupted": self.baselines.corrupted,
                "normalized": math.nan,
                "fraction_of_clean": math.nan,
            }
        )
        return {
            "method": self.attribution.method,
            "metric": self.metric,
            "ig_steps": self.attribution.ig_steps,
            "n_examples": self.attribution.n_examples,
            "n_edges_total": circuit.layout.n_edges,
            "selection": self.search.selection if self.search else "skipped",
            "criterion": self.config.criterion,
            "target": self.config.target,
            "target_reached": self.search.reached if self.search else False,
            "n_nodes_in_circuit": sum(circuit.node_in_graph.values()),
            "baseline_gap": self.baselines.to_dict(),
            "faithfulness_reliable": self.baselines.reliable,
            **values,
        }


def find_circuit(
    model: HookedModel,
    pairs: PromptPairs,
    config: EAPConfig | None = None,
    run: RunFolder | None = None,
    *,
    title: str | None = None,
    progress: bool = True,
) -> CircuitRun:
    """Attribute every edge, select the circuit ``config`` asks for and evaluate it.

    Args:
        model: a hooked model (``mechcirc.load_model``); its hook switches are left as found.
        pairs: the task's prompt pairs.
        config: settings (default ``EAPConfig()``).
        run: a run folder to write every output into, or None (nothing touches the disk).
        title: the circuit drawing's title (default: task, size and faithfulness).
        progress: show progress bars.
    """
    config = config or EAPConfig()
    if run is not None:
        write_jsonl(pairs, run.file("examples.jsonl"))
    attribution = attribute(
        model,
        pairs,
        config.method,
        ig_steps=config.ig_steps,
        batch_size=config.batch_size,
        progress=progress,
    )
    release_freed_memory()  # the attribution's activations, before faithfulness needs its own
    started = time.perf_counter()
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=config.batch_size)
    baselines = evaluator.baselines
    if baselines.problem:
        log.info("%s: normalized faithfulness is unreliable: %s", pairs.task, baselines.problem)
    search = None
    if config.selection != "smallest" or (baselines.reliable and not baselines.equal):
        search = select_circuit(
            evaluator,
            attribution.graph,
            config.selection,
            n=config.n_edges,
            threshold=config.threshold,
            target=config.target,
            criterion=config.criterion,
            step=config.search_step,
            cap=config.search_cap,
            absolute=not config.signed,
            progress=progress,
        )
    timings = {
        "attribution_s": round(attribution.seconds, 3),
        "faithfulness_s": round(time.perf_counter() - started, 3),
    }
    result = CircuitRun(config, pairs.metric, attribution, search, baselines, timings)
    if run is not None:
        _write_outputs(run, result, pairs, title)
    return result


def _write_outputs(run: RunFolder, result: CircuitRun, pairs: PromptPairs, title: str | None):
    circuit, metrics = result.circuit, result.metrics()
    if title is None:
        title = (
            f"{pairs.task}: {circuit.n_edges_in_graph} edges, normalized faithfulness "
            f"{metrics['normalized']:.2f}"
        )
    circuit.save_json(run.file("graph.json"))
    circuit.save_safetensors(run.file("scores.safetensors"))
    circuit.save_svg(run.file("circuit.svg"), title=title)
    circuit.save_dot(run.file("circuit.dot"), title=title)
    curve = result.search.evaluated if result.search else []
    run.save_json("faithfulness.json", {**metrics, "search": curve})
    run.update(metrics=metrics, timings=result.timings)
