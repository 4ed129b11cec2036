"""Resumable fits: the whole :class:`L3DState` in one safetensors file (no pickle).

Tensors: the subnetworks' Tucker factors (``subnetworks.*``) and Adam's moments and step counts
(``optimizer.<i>.*``). Metadata: the step, the config and the metrics log as JSON. The file is
written beside its final name and renamed, so an interrupted save never leaves a torn checkpoint.
A resume must use the same config; only ``steps`` may grow (to train longer).

Example:
    >>> save_checkpoint("run/checkpoint.safetensors", state, config)  # doctest: +SKIP
    >>> state = load_checkpoint("run/checkpoint.safetensors", config)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import L3DConfig, L3DState, new_state
from mechcirc.errors import UsageError

# Settings that may change between the interrupted run and its resumption.
RESUMABLE_CHANGES = ("steps", "log_every")


def save_checkpoint(path: str | Path, state: L3DState, config: L3DConfig) -> Path:
    """Write ``state`` atomically to ``path``."""
    path = Path(path)
    tensors = {f"subnetworks.{k}": v for k, v in state.subnetworks.state_dict().items()}
    for index, slots in state.optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
    metadata = {
        "step": str(state.step),
        "config": json.dumps(config.to_dict()),
        "shapes": json.dumps({n: list(s) for n, s in state.subnetworks.shapes.items()}),
        "log": json.dumps(state.log),
    }
    partial = path.with_suffix(".partial")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(partial), metadata
    )
    os.replace(partial, path)
    return path


def _check_config(saved: dict, config: L3DConfig, path: Path) -> None:
    current = config.to_dict()
    changed = [k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if changed:
        diffs = ", ".join(
            f"{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}" for k in changed
        )
        raise UsageError(f"cannot resume {path}: settings differ ({diffs})")


def check_resumable(path: str | Path, config: L3DConfig) -> None:
    """Raise ``UsageError`` unless ``path`` holds a checkpoint ``config`` may resume (read the
    header only, so a refused resume costs nothing and changes nothing)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint to resume at {path}")
    with safe_open(str(path), framework="pt") as handle:
        saved = json.loads(handle.metadata()["config"])
    _check_config(saved, config, path)


def load_checkpoint(
    path: str | Path, config: L3DConfig, device: str | torch.device | None = None
) -> L3DState:
    """Rebuild the state saved at ``path``; its settings must match ``config``.

    The subnetworks are moved to ``device`` (default: CPU) *before* the optimiser is built and
    its state loaded, so Adam's moments land on the same device as the parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint to resume at {path}")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    _check_config(json.loads(meta["config"]), config, path)
    shapes = {n: tuple(s) for n, s in json.loads(meta["shapes"]).items()}
    subnetworks = Subnetworks(shapes, config.n_subnetworks, config.rank, seed=config.seed)
    prefix = "subnetworks."
    subnetworks.load_state_dict(
        {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    )
    if device is not None:
        subnetworks.to(device)
    state = new_state(subnetworks, config)
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    optimizer_state = state.optimizer.state_dict()
    optimizer_state["state"] = slots
    state.optimizer.load_state_dict(optimizer_state)
    state.step = int(meta["step"])
    state.log = json.loads(meta["log"])
    return state
