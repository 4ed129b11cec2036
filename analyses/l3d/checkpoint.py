"""Resumable fits in mechcirc's one checkpoint format, and subnetworks saved as their factors.

A checkpoint (:mod:`mechcirc.checkpoints`) holds the subnetworks' Tucker factors as the module
state, AdamW's state, the step, and as metadata the config, the group's shapes and the metrics
log. A resume must use the same config; only ``steps`` (to train longer), ``log_every``,
``checkpoint_every`` and the evaluation settings (``n_eval``, ``n_references``, ``n_top``,
``deltas``, ``interventions``) may change. :func:`check_resumable` reads the file's header
only, so a refused resume costs nothing and changes nothing.

``subnetworks.safetensors`` in a run folder stores the factors too (``v_out.<i>.core``, ...),
with the names, shapes and ranks as metadata: its size grows with the rank, not with
``n_v x n_params``; :func:`load_subnetworks` rebuilds the :class:`Subnetworks`.

Example:
    >>> save_state("run/checkpoint.safetensors", state, config)  # doctest: +SKIP
    >>> state = load_state("run/checkpoint.safetensors", config)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch

from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import L3DState, new_state
from mechcirc.checkpoints import load_checkpoint, save_checkpoint
from mechcirc.errors import UsageError
from mechcirc.tensorfiles import load_tensors, read_metadata, save_tensors

__all__ = [
    "RESUMABLE_CHANGES",
    "check_resumable",
    "load_state",
    "load_subnetworks",
    "save_state",
    "save_subnetworks",
]

RESUMABLE_CHANGES = (
    "steps",
    "log_every",
    "checkpoint_every",
    "n_eval",
    "n_references",
    "n_top",
    "deltas",
    "interventions",
)


def _layout(subnetworks: Subnetworks) -> dict:
    return {
        "names": subnetworks.names,
        "shapes": {n: list(s) for n, s in subnetworks.shapes.items()},
        "ranks": subnetworks.ranks,
        "n_subnetworks": subnetworks.n_subnetworks,
    }


def _from_layout(layout: dict) -> Subnetworks:
    shapes = {n: tuple(layout["shapes"][n]) for n in layout["names"]}
    return Subnetworks(shapes, layout["n_subnetworks"], ranks=layout["ranks"])


def save_state(path: str | Path, state: L3DState, config: L3DConfig) -> Path:
    """Write ``state`` atomically to ``path``."""
    return save_checkpoint(
        path,
        model=state.subnetworks.state_dict(),
        optimizer=state.optimizer.state_dict(),
        step=state.step,
        metadata={
            "config": config.to_dict(),
            "layout": _layout(state.subnetworks),
            "log": state.log,
        },
    )


def _check_config(saved: dict, config: L3DConfig, path: Path) -> None:
    current = config.to_dict()
    changed = [k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if changed:
        diffs = ", ".join(
            f"{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}" for k in changed
        )
        raise UsageError(f"cannot resume {path}: settings differ ({diffs})")


def check_resumable(path: str | Path, config: L3DConfig) -> None:
    """Raise ``UsageError`` unless ``path`` holds a checkpoint ``config`` may resume."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint to resume at {path}")
    header = read_metadata(path)
    _check_config(header.get("metadata", {}).get("config", {}), config, path)


def load_state(
    path: str | Path, config: L3DConfig, device: str | torch.device | None = None
) -> L3DState:
    """Rebuild the state saved at ``path`` (settings must match ``config``) on ``device``.

    The subnetworks move to ``device`` *before* the optimiser is built and its state loaded,
    so AdamW's moments land on the same device as the parameters.
    """
    check_resumable(path, config)
    saved = load_checkpoint(path)
    subnetworks = _from_layout(saved.metadata["layout"])
    subnetworks.load_state_dict(saved.model)
    subnetworks.to(device or "cpu")
    state = new_state(subnetworks, config)
    state.optimizer.load_state_dict(saved.optimizer)
    state.step = saved.step
    state.log = list(saved.metadata["log"])
    return state


def save_subnetworks(path: str | Path, subnetworks: Subnetworks) -> Path:
    """The Tucker factors of both maps, with the layout to rebuild them."""
    return save_tensors(path, subnetworks.state_dict(), {"layout": _layout(subnetworks)})


def load_subnetworks(path: str | Path) -> Subnetworks:
    """The :class:`Subnetworks` saved by :func:`save_subnetworks`."""
    tensors, metadata = load_tensors(path)
    if "layout" not in metadata:
        raise UsageError(
            f"{path} holds no subnetwork factors (written by an older mechcirc as dense maps): "
            "rerun the decomposition"
        )
    subnetworks = _from_layout(metadata["layout"])
    subnetworks.load_state_dict(tensors)
    return subnetworks
