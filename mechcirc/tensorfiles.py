"""Safetensors files written atomically and byte-reproducibly, with JSON metadata.

safetensors stores metadata as a string map whose key order is not fixed, so two writes of the
same tensors can differ in bytes. Here all metadata is one key (``mechcirc``) holding sorted
JSON: the same tensors and metadata always give the same file. The file is written beside its
final name and renamed, so a kill mid-write never leaves a torn file.

Example:
    >>> save_tensors("scores.safetensors", {"scores": scores}, {"format": "v1"})  # doctest: +SKIP
    >>> tensors, metadata = load_tensors("scores.safetensors")                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mechcirc.errors import MechcircError

__all__ = ["METADATA_KEY", "load_tensors", "read_metadata", "save_tensors"]

METADATA_KEY = "mechcirc"


def save_tensors(
    path: str | Path, tensors: Mapping[str, Tensor], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``tensors`` (copied to contiguous CPU memory) and JSON ``metadata`` to ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    stored = {k: tensors[k].detach().contiguous().cpu() for k in sorted(tensors)}
    header = {METADATA_KEY: json.dumps(dict(metadata or {}), sort_keys=True)}
    partial = path.with_name(f".{path.name}.partial")
    save_file(stored, str(partial), metadata=header)
    os.replace(partial, path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a file written by :func:`save_tensors` (files written by other
    tools: their raw string metadata)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for torn files
        raise MechcircError(f"{path} is not a readable safetensors file ({err})") from err
    return json.loads(raw[METADATA_KEY]) if METADATA_KEY in raw else dict(raw)


def load_tensors(
    path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(tensors, metadata)`` of a safetensors file; tensors land on ``device``."""
    from safetensors.torch import load_file

    metadata = read_metadata(path)
    try:
        return load_file(str(path), device=str(device)), metadata
    except Exception as err:
        raise MechcircError(f"{path} is not a readable safetensors file ({err})") from err
