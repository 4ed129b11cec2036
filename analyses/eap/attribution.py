"""Edge attribution: ``attribute(model, pairs, method)`` -> scores for every edge of the graph.

Score convention: ``score(src -> dst)`` is the per-example mean over the dataset of
``sum over positions of (a_clean(src) - a_corrupted(src)) . d metric / d input(dst)``, so it
approximates ``metric(clean) - metric(clean with that one edge patched to corrupted)`` and does
not depend on the batch size. (hannamw/EAP-IG, with its usual ``loss=True, mean=True``
metric, reports these scores divided by its batch size.)

Methods, by where the gradient is taken:

- ``eap``: at the clean input (one forward+backward, plus the corrupted forward);
- ``eap-ig-inputs`` (default): averaged over token embeddings interpolated from corrupted to
  clean, ``alpha = k / m`` for ``k = 0..m-1``; step 0 *is* the corrupted run, so its forward
  also supplies the corrupted activations (m forward+backward passes and one clean forward);
- ``clean-corrupted``: averaged over the clean and the corrupted inputs;
- ``eap-ig-activations``: for each source group (the input, a layer's heads, a layer's MLP),
  averaged over runs whose *that group's* output is interpolated, ``alpha = k / m`` for
  ``k = 1..m``, everything else computed from the clean input; each run scores the edges
  leaving its group only (hannamw/EAP-IG adds every run's gradients to every edge);
- ``exact``: true single-edge activation patching (:mod:`mechcirc.analyses.eap.exact`).

Parameters are frozen while attributing (no weight gradient is ever computed) and each pass's
autograd graph is freed by its backward.

Example:
    >>> result = attribute(model, pairs, "eap-ig-inputs", ig_steps=5)   # doctest: +SKIP
    >>> result.graph.select("greedy", n=200).n_edges_in_graph          # doctest: +SKIP
    200
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.analyses.eap.forward import (
    INPUT_HOOK,
    Hook,
    new_source_buffer,
    record_sources,
    run_metric,
    source_groups,
)
from mechcirc.analyses.eap.gradients import EdgeGradients
from mechcirc.analyses.eap.model_parts import ModelParts, attribution_mode
from mechcirc.errors import UsageError
from mechcirc.graph import CircuitGraph
from mechcirc.tasks import PromptPairs

__all__ = [
    "DEFAULT_IG_STEPS",
    "DEFAULT_METHOD",
    "IG_METHODS",
    "METHODS",
    "Attribution",
    "attribute",
    "check_arguments",
]

log = logging.getLogger(__name__)

METHODS = ("eap-ig-inputs", "eap", "eap-ig-activations", "clean-corrupted", "exact")
# The methods that use ``ig_steps``; the others ignore it and record ``ig_steps=None``.
IG_METHODS = ("eap-ig-inputs", "eap-ig-activations")
DEFAULT_METHOD = "eap-ig-inputs"
DEFAULT_IG_STEPS = 5


@dataclass(frozen=True)
class Attribution:
    """Edge scores (``graph.scores``, no circuit selected yet) and how they were computed."""

    graph: CircuitGraph
    method: str
    ig_steps: int | None  # None for the methods that take no interpolation steps
    n_examples: int
    seconds: float

    @property
    def scores(self) -> Tensor:
        return self.graph.scores


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_arguments(method: str, ig_steps: int, batch_size: int = 1) -> None:
    """Raise ``UsageError`` for an unknown method or a non-positive step or batch count."""
    if method not in METHODS:
        raise UsageError(
            f"unknown attribution method {method!r}: choose one of {', '.join(METHODS)}"
        )
    if not _positive_int(ig_steps):
        raise UsageError(f"ig_steps must be a positive integer, got {ig_steps!r}")
    if not _positive_int(batch_size):
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")


def attribute(
    model,
    pairs: PromptPairs,
    method: str = DEFAULT_METHOD,
    *,
    ig_steps: int = DEFAULT_IG_STEPS,
    batch_size: int = 32,
    progress: bool = True,
) -> Attribution:
    """Score every edge of ``model``'s graph on ``pairs`` with ``method`` (see module doc).

    Args:
        model: a TransformerBridge (``mechcirc.load_model`` or ``tiny_model``).
        pairs: clean/corrupted prompt pairs with answers and a metric.
        method: one of ``METHODS``.
        ig_steps: interpolation steps ``m`` of the integrated-gradient methods (``IG_METHODS``);
            the other methods ignore it.
        batch_size: examples per pass; scores do not depend on it.
        progress: show a progress bar per batch.
    """
    check_arguments(method, ig_steps, batch_size)
    if method == "exact":
        from mechcirc.analyses.eap.exact import exact_scores

        started = time.perf_counter()
        scores = exact_scores(model, pairs, batch_size=batch_size, progress=progress)
        return _result(model, scores, method, None, pairs, started)
    parts = ModelParts.from_model(model)
    device = next(model.parameters()).device
    scores = torch.zeros(parts.layout.n_src, parts.layout.n_dst, dtype=torch.float64, device=device)
    per_batch, n_passes = _batch_function(method, ig_steps)
    started = time.perf_counter()
    with attribution_mode(model):
        batches = tqdm(
            pairs.batches(batch_size),
            total=-(-len(pairs) // batch_size),
            desc=method,
            unit="batch",
            disable=not progress,
        )
        for batch in batches:
            per_batch(model, parts, batch.to(device), scores)
    scores /= len(pairs) * n_passes
    steps = ig_steps if method in IG_METHODS else None
    return _result(model, scores, method, steps, pairs, started)


def _result(model, scores, method, steps, pairs, started) -> Attribution:
    graph = CircuitGraph.from_model(model, scores.float().cpu())
    seconds = time.perf_counter() - started
    log.info("%s: %d examples in %.1f s", method, len(pairs), seconds)
    return Attribution(graph, method, steps, len(pairs), seconds)


def _batch_function(method: str, ig_steps: int) -> tuple[Callable, int]:
    """The per-batch function of ``method`` and the number of gradient passes it adds up per
    example (the scores are divided by it)."""
    if method == "eap-ig-activations":
        return (lambda *args: _activation_path_batch(*args, ig_steps=ig_steps)), ig_steps
    alphas = {
        "eap": [1.0],
        "clean-corrupted": [0.0, 1.0],
        "eap-ig-inputs": [k / ig_steps for k in range(ig_steps)],
    }[method]
    return (lambda *args: _input_path_batch(*args, alphas=alphas)), len(alphas)


# ---- gradients along the input path ---------------------------------------------------------
def _input_path_batch(model, parts: ModelParts, batch: PromptPairs, scores: Tensor, alphas):
    """One batch of ``eap`` / ``eap-ig-inputs`` / ``clean-corrupted``."""
    tokens = {1.0: batch.clean, 0.0: batch.corrupted}
    delta = new_source_buffer(parts, batch.clean)
    inputs: dict[float, Tensor] = {}
    # The endpoint a gradient step runs anyway records its activations in that step.
    supplier = 0.0 if 0.0 in alphas else 1.0
    for end, sign in ((1.0, 1.0), (0.0, -1.0)):
        if end != supplier or end not in alphas:
            with torch.no_grad():
                hooks = [*record_sources(parts, delta, sign), _keep_input(inputs, end)]
                run_metric(model, tokens[end], batch, hooks)
    gradients = EdgeGradients(parts, delta, scores)
    for alpha in sorted(alphas, key=lambda a: a != supplier):
        if alpha == supplier:
            sign = 1.0 if supplier == 1.0 else -1.0
            hooks = [*record_sources(parts, delta, sign), _keep_input(inputs, alpha)]
        else:
            hooks = [_interpolate(INPUT_HOOK, inputs[0.0], inputs[1.0], alpha)]
        metric = run_metric(model, tokens[supplier], batch, [*hooks, *gradients.hooks()])
        metric.sum().backward()


def _keep_input(inputs: dict[float, Tensor], end: float) -> Hook:
    """Remember this run's input residual; later hooks see it as a leaf that takes gradients."""

    def hook(x, hook):
        inputs[end] = x.detach()
        return x.detach().requires_grad_(torch.is_grad_enabled())

    return (INPUT_HOOK, hook)


def _interpolate(name: str, corrupted: Tensor, clean: Tensor, alpha: float) -> Hook:
    """Replace the activation at ``name`` by a leaf on the corrupted -> clean line."""

    def hook(x, hook):
        return torch.lerp(corrupted, clean, alpha).requires_grad_(True)

    return (name, hook)


# ---- gradients along each source group's own path -------------------------------------------
def _activation_path_batch(model, parts, batch: PromptPairs, scores: Tensor, ig_steps: int):
    """One batch of ``eap-ig-activations``: IG over each source group's output in turn."""
    ends = {}
    for end, tokens in (("clean", batch.clean), ("corrupted", batch.corrupted)):
        buffer, outputs = new_source_buffer(parts, tokens), {}
        with torch.no_grad():
            run_metric(
                model,
                tokens,
                batch,
                [*record_sources(parts, buffer), *_keep_group_outputs(parts, outputs)],
            )
        ends[end] = (buffer, outputs)
    delta = ends["clean"][0] - ends["corrupted"][0]
    for rows, hook_name, _ in source_groups(parts):
        gradients = EdgeGradients(parts, delta, scores, rows=rows)
        clean, corrupted = ends["clean"][1][hook_name], ends["corrupted"][1][hook_name]
        for k in range(1, ig_steps + 1):
            hooks = [_interpolate(hook_name, corrupted, clean, k / ig_steps), *gradients.hooks()]
            run_metric(model, batch.clean, batch, hooks).sum().backward()


def _keep_group_outputs(parts: ModelParts, outputs: dict[str, Tensor]) -> list[Hook]:
    def keep(name: str):
        def hook(x, hook):
            outputs[name] = x.detach()

        return hook

    return [(group.hook, keep(group.hook)) for group in source_groups(parts)]
