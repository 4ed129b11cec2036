"""Checkpoint weight files: safetensors by default, pickle only on request, read into place.

A checkpoint folder holds ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``) or, in older repositories, ``pytorch_model.bin``: a pickle
that can run code when loaded. mechcirc reads safetensors; a folder with only ``.bin`` weights
is refused unless the caller passes ``allow_bin=True``.

:func:`read_safetensors_into` reads a safetensors file straight into existing tensors (one
``readinto`` per tensor when dtype and layout match; no memory map, no second copy), which is
how :func:`mechcirc.models.loading.switch_revision` swaps a new revision's weights into a
loaded model.

Example:
    >>> files = safetensors_files(snapshot_folder)               # doctest: +SKIP
    >>> header = read_header(files[0])                            # doctest: +SKIP
    >>> header["gpt_neox.embed_in.weight"].shape                  # doctest: +SKIP
    (50304, 768)
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from mechcirc.errors import ModelLoadError, UsageError

__all__ = [
    "BIN_FILES",
    "SAFETENSORS_FILES",
    "TensorEntry",
    "bin_refusal",
    "folder_weight_format",
    "read_header",
    "read_safetensors_into",
    "safetensors_files",
]

SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
BIN_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_MAX_HEADER_BYTES = 100 * 2**20
_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def bin_refusal(where: str) -> UsageError:
    """The error for a checkpoint that has only pickled ``.bin`` weights."""
    return UsageError(
        f"{where} has only pytorch_model.bin weights (a pickle, which can run code when "
        "loaded); mechcirc loads safetensors. Convert it to model.safetensors, or pass "
        "--allow-bin (load_model(..., allow_bin=True)) to load it with "
        "torch.load(weights_only=True)."
    )


def folder_weight_format(folder: Path) -> str | None:
    """``"safetensors"``, ``"bin"`` or None: which weights a saved-model folder holds."""
    if any((folder / name).is_file() for name in SAFETENSORS_FILES):
        return "safetensors"
    if any((folder / name).is_file() for name in BIN_FILES):
        return "bin"
    return None


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors file: its dtype, shape and byte range in the file."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def safetensors_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder (the shards an index lists, or the one file).

    Raises:
        ModelLoadError: when the folder has no safetensors weights.
    """
    index = folder / SAFETENSORS_FILES[1]
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [folder / name for name in sorted(set(weight_map.values()))]
    single = folder / SAFETENSORS_FILES[0]
    if single.is_file():
        return [single]
    raise ModelLoadError(f"{folder} holds no safetensors weights ({', '.join(SAFETENSORS_FILES)})")


def read_header(path: Path) -> dict[str, TensorEntry]:
    """The tensors a safetensors file holds, by name, without reading their data.

    Raises:
        ModelLoadError: for a file that is not valid safetensors (bad header, offsets past
            the end, a byte count that does not match the shape).
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8) or b"\0" * 8)
        if not 0 < length <= min(_MAX_HEADER_BYTES, size - 8):
            raise ModelLoadError(f"{path} is not a safetensors file (header length {length})")
        try:
            header = json.loads(handle.read(length))
        except ValueError as err:
            raise ModelLoadError(f"{path} has an unreadable safetensors header: {err}") from err
    header.pop("__metadata__", None)
    return {name: _entry(path, name, raw, 8 + length, size) for name, raw in header.items()}


def _entry(path: Path, name: str, raw: Mapping, data_start: int, size: int) -> TensorEntry:
    try:
        dtype = _DTYPES[raw["dtype"]]
        begin, end = (data_start + int(offset) for offset in raw["data_offsets"])
        entry = TensorEntry(dtype, tuple(int(n) for n in raw["shape"]), begin, end)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{path}: tensor {name!r} has a bad header entry {raw!r}") from err
    expected = entry.numel * torch.empty((), dtype=dtype).element_size()
    if not data_start <= begin <= end <= size or end - begin != expected:
        raise ModelLoadError(f"{path}: tensor {name!r} has bad offsets {raw['data_offsets']}")
    return entry


def read_safetensors_into(path: Path, targets: Mapping[str, torch.Tensor]) -> None:
    """Read each tensor of ``path`` into ``targets[name]`` (same shape; dtype cast if needed).

    Raises:
        ModelLoadError: if the file's tensor names or shapes differ from ``targets``.
    """
    header = read_header(path)
    if set(header) != set(targets):
        missing, extra = sorted(set(targets) - set(header)), sorted(set(header) - set(targets))
        raise ModelLoadError(
            f"{path} holds other tensors than the loaded model: missing {missing[:5]}, "
            f"unexpected {extra[:5]}"
        )
    with open(path, "rb", buffering=0) as handle, torch.no_grad():
        for name, entry in header.items():
            target = targets[name]
            if tuple(target.shape) != entry.shape:
                raise ModelLoadError(
                    f"{path}: tensor {name!r} has shape {entry.shape}, "
                    f"the model's {tuple(target.shape)}"
                )
            _read_tensor(handle, path, entry, target)


def _read_tensor(handle: BinaryIO, path: Path, entry: TensorEntry, target: torch.Tensor) -> None:
    direct = (
        target.device.type == "cpu"
        and target.dtype == entry.dtype
        and target.is_contiguous()
        and sys.byteorder == "little"  # safetensors stores little-endian
    )
    buffer = target if direct else torch.empty(entry.shape, dtype=entry.dtype)
    handle.seek(entry.start)
    view = memoryview(buffer.detach().reshape(-1).view(torch.uint8).numpy())
    done = 0
    while done < len(view):  # one read returns at most ~2 GiB
        count = handle.readinto(view[done:])
        if not count:
            raise ModelLoadError(f"{path} ended inside tensor data (truncated file?)")
        done += count
    if not direct:
        target.copy_(buffer)
