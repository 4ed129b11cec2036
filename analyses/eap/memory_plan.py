"""Will an EAP run fit in memory? A lower bound, from the model's config alone, checked before
any weight loads.

The bound (:class:`MemoryPlan`) adds what the run cannot do without:

- the weights: at least ``vocab x d_model`` embedding entries plus ``4 d_model^2`` per layer
  (query and output projections and an MLP no narrower than the residual), in the run's dtype;
- the attribution's buffers for one batch, float32: the source differences
  ``[n_src, batch, pos, d_model]`` (``n_src = 1 + layers x (heads + 1)``) and, for the
  gradient methods, the per-head q/k/v input-gradient workspace
  ``[heads + 2, batch x pos, d_model]``;
- ``PROCESS_BYTES`` for Python, torch and transformers themselves.

Positions come from the task's first prompts tokenized by the bundled GPT-NeoX tokenizer (the
model's own tokenizer is not loaded yet); every term is an underestimate, so a request refused
here would certainly not fit. Memory does not grow with the number of prompts: batches are
streamed and the faithfulness cache is capped by the weights' size
(:func:`~mechcirc.analyses.eap.faithfulness.cache_limit`).

Example:
    >>> from mechcirc.models.shape import ModelShape
    >>> shape = ModelShape(n_layers=12, n_heads=12, d_model=768, n_ctx=2048, vocab_size=50304)
    >>> plan = plan_memory(shape, batch_size=32, n_positions=21, method="eap")
    >>> round(plan.attribution / 2**30, 2)
    0.33
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from mechcirc.errors import MechcircError, UsageError
from mechcirc.models.device import DTYPES, resolve_device
from mechcirc.models.shape import ModelShape

__all__ = [
    "PROCESS_BYTES",
    "MemoryPlan",
    "available_memory",
    "check_memory_plan",
    "check_run_memory",
    "plan_memory",
    "task_positions",
]

log = logging.getLogger(__name__)

PROCESS_BYTES = 256 * 2**20
GRADIENT_FREE_METHODS = ("exact",)
_GIB = 2**30


@dataclass(frozen=True)
class MemoryPlan:
    """Lower bounds, in bytes, of what a run holds at its peak."""

    weights: int
    attribution: int
    process: int = PROCESS_BYTES

    @property
    def total(self) -> int:
        return self.weights + self.attribution + self.process

    def describe(self) -> str:
        return (
            f"{self.total / _GIB:.1f} GiB (weights {self.weights / _GIB:.1f} GiB, attribution "
            f"buffers of one batch {self.attribution / _GIB:.1f} GiB, Python and torch "
            f"{self.process / _GIB:.2f} GiB)"
        )


def plan_memory(
    shape: ModelShape,
    *,
    batch_size: int,
    n_positions: int,
    method: str = "eap-ig-inputs",
    dtype: str = "float32",
) -> MemoryPlan:
    """The lower bound of module doc for one run."""
    d_model, n_layers = shape.d_model, shape.n_layers
    n_params = shape.vocab_size * d_model + 4 * n_layers * d_model**2
    weights = n_params * torch.empty((), dtype=DTYPES[dtype]).element_size()
    n_src = 1 + n_layers * (shape.n_heads + 1)
    rows = n_src if method in GRADIENT_FREE_METHODS else n_src + shape.n_heads + 2
    attribution = 4 * rows * batch_size * n_positions * d_model
    return MemoryPlan(weights=weights, attribution=attribution)


def available_memory(device: str = "cpu") -> int | None:
    """Bytes the run can still use on ``device``: free GPU memory, or the machine's
    ``MemAvailable``; None when unknown."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return int(torch.cuda.mem_get_info(resolved)[0])
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def check_memory_plan(plan: MemoryPlan, available: int | None, *, batch_size: int) -> None:
    """``UsageError`` when the plan's lower bound exceeds ``available`` bytes."""
    if available is None or plan.total <= available:
        return
    advice = "use a smaller model or a machine with more memory"
    room = available - plan.weights - plan.process  # what is left for the batch buffers
    per_example = plan.attribution / batch_size
    if room >= per_example:
        advice = f"lower --batch-size (at most about {int(room // per_example)} fits)"
    raise UsageError(
        f"this run needs at least {plan.describe()}, but only {available / _GIB:.1f} GiB is "
        f"available: {advice}"
    )


def task_positions(task: str, n: int) -> int:
    """The longest of the task's first prompts under the bundled tokenizer (1 if the task
    cannot be tokenized by it)."""
    from mechcirc.models.tokenizers import pythia_tokenizer
    from mechcirc.tasks import load_pairs

    try:
        pairs = load_pairs(task, pythia_tokenizer(), n=min(n, 16), seed=0)
    except (MechcircError, ValueError, KeyError) as err:
        log.debug("no position estimate for %s: %s", task, err)
        return 1
    return int(pairs.clean.shape[1])


def check_run_memory(model, task, config) -> MemoryPlan:
    """Refuse (``UsageError``) an EAP run of ``config`` on ``model`` (a :class:`ModelSpec`)
    and ``task`` (a :class:`TaskSpec`) whose memory lower bound exceeds what is available;
    reads the model's config only."""
    from mechcirc.models.shape import model_shape

    batch_size = min(config.batch_size, task.n)
    plan = plan_memory(
        model_shape(model.name, model.revision),
        batch_size=batch_size,
        n_positions=task_positions(task.name, task.n),
        method=config.method,
        dtype=model.dtype,
    )
    check_memory_plan(plan, available_memory(model.device), batch_size=batch_size)
    return plan
