"""One checkpoint format: module state, optimizer state, step and metadata in one safetensors file.

Used by every trainer (toy models, L3D, the curriculum, micro-Pythia). No pickle: tensors are
safetensors entries (``model.<name>``, ``optimizer.<index>.<slot>``, ``extra.<name>``); the step,
the optimizer's param groups and non-tensor slots, and the caller's metadata are JSON in the
file's header. The file is written beside its final name and renamed, so a kill mid-write never
leaves a torn checkpoint.

Example:
    >>> save_checkpoint("run/checkpoint.safetensors", model=model.state_dict(),
    ...                 optimizer=optimizer.state_dict(), step=1000,
    ...                 metadata={"config": config.to_dict()})     # doctest: +SKIP
    >>> checkpoint = load_checkpoint("run/checkpoint.safetensors")  # doctest: +SKIP
    >>> model.load_state_dict(checkpoint.model); checkpoint.step    # doctest: +SKIP
    1000
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mechcirc.errors import MechcircError, UsageError
from mechcirc.tensorfiles import load_tensors, save_tensors

__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT = "mechcirc-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read back."""

    model: dict[str, Tensor]
    step: int
    optimizer: dict[str, Any] | None = None  # a ``torch.optim.Optimizer.state_dict()``
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Tensor] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    *,
    model: Mapping[str, Tensor],
    step: int,
    optimizer: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    extra: Mapping[str, Tensor] | None = None,
) -> Path:
    """Write a checkpoint atomically to ``path`` (a ``.safetensors`` file).

    Args:
        model: a module's ``state_dict()`` (shared tensors are stored once each, by name).
        step: the training step the state belongs to.
        optimizer: an optimizer's ``state_dict()``, or None.
        metadata: JSON-able facts (the config, the metrics log, the data's description).
        extra: further tensors (random-generator states, running statistics).
    """
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in model.items()}
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    header: dict[str, Any] = {"step": int(step), "metadata": dict(metadata or {})}
    if optimizer is not None:
        scalars: dict[str, dict[str, Any]] = {}
        for index, slots in optimizer["state"].items():
            for slot, value in slots.items():
                if isinstance(value, Tensor):
                    tensors[f"optimizer.{index}.{slot}"] = value
                else:
                    scalars.setdefault(str(index), {})[slot] = value
        header["optimizer"] = {"param_groups": optimizer["param_groups"], "scalars": scalars}
    path.parent.mkdir(parents=True, exist_ok=True)
    # clone: shared or tied tensors become separate entries safetensors accepts
    stored = {k: v.detach().clone() for k, v in tensors.items()}
    return save_tensors(
        path, stored, {"format": FORMAT, "format_version": FORMAT_VERSION, **header}
    )


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; tensors land on ``device``."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}")
    tensors, header = load_tensors(path, device=device)
    if header.get("format") != FORMAT:
        raise MechcircError(f"{path} is not a mechcirc checkpoint (no {FORMAT!r} header)")
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        raise MechcircError(
            f"{path} has checkpoint format {header['format_version']}, newer than this mechcirc "
            f"reads ({FORMAT_VERSION}): upgrade mechcirc"
        )
    model = _with_prefix(tensors, "model.")
    optimizer = None
    if "optimizer" in header:
        state: dict[int, dict[str, Any]] = {}
        for key, value in _with_prefix(tensors, "optimizer.").items():
            index, slot = key.split(".", 1)
            state.setdefault(int(index), {})[slot] = value
        for index, slots in header["optimizer"]["scalars"].items():
            state.setdefault(int(index), {}).update(slots)
        optimizer = {"state": state, "param_groups": header["optimizer"]["param_groups"]}
    return Checkpoint(
        model=model,
        step=int(header["step"]),
        optimizer=optimizer,
        metadata=header["metadata"],
        extra=_with_prefix(tensors, "extra."),
    )


def _with_prefix(tensors: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
