"""Swap a checkpoint's raw weights into an already-built TransformerBridge, in place.

Booting a bridge (building the wrappers, hook points and aliases) costs more than reading the
weights, and a sweep over checkpoints of one model needs a new set of weights per unit, not a
new model. :func:`capture_layout` records, when a model loads, which model tensor each
checkpoint tensor fills (transformers' key renamings applied, e.g. Pythia's ``embed_out`` ->
``lm_head``) and which tensors are tied to others; :func:`reload_weights` later reads another
checkpoint of the same architecture into those tensors and rebuilds what the bridge derives
from them: the split q/k/v projections of fused-QKV attention (GPT-NeoX, GPT-2), the untied
unembedding, and the biases the bridge or the weight processing added (zero in the raw model).
The caller then re-applies the weight processing.

Example:
    >>> layout = capture_layout(hf_model, safetensors_files(snapshot))   # doctest: +SKIP
    >>> # ... boot the bridge; later, for another revision's snapshot:
    >>> reload_weights(bridge, layout, safetensors_files(other_snapshot)) # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformer_lens.model_bridge.generalized_components.joint_qkv_attention import (
    JointQKVAttentionBridge,
)

from mechcirc.errors import ModelLoadError
from mechcirc.models.weights import read_header, read_safetensors_into

__all__ = ["CheckpointLayout", "capture_layout", "reload_weights"]


@dataclass(frozen=True)
class CheckpointLayout:
    """How one architecture's checkpoint tensors map onto the loaded transformers model.

    Attributes:
        key_to_name: checkpoint tensor name -> the model's tensor name.
        tied: model tensor name -> the model tensor it shares storage with in the raw model
            (GPT-2's unembedding is its embedding), for tensors no checkpoint key fills.
        model_names: every tensor name of the transformers model before the bridge wrapped it.
    """

    key_to_name: dict[str, str]
    tied: dict[str, str]
    model_names: frozenset[str]


def capture_layout(hf_model: torch.nn.Module, files: Sequence[Path]) -> CheckpointLayout | None:
    """The layout of ``files`` on ``hf_model`` (a transformers model, before booting a bridge).

    Returns None when a checkpoint tensor does not map one-to-one onto a model tensor (a
    transformers weight converter merges or splits it): such a model is reloaded from scratch.
    """
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, rename_source_key

    tensors = _named_tensors(hf_model)
    transforms = get_model_conversion_mapping(hf_model)
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    renamings = [t for t in transforms if not isinstance(t, WeightConverter)]
    prefix = getattr(hf_model, "base_model_prefix", None)
    key_to_name = {}
    for key in itertools.chain.from_iterable(read_header(path) for path in files):
        name, converter = rename_source_key(key, renamings, converters, prefix, tensors)
        if converter is not None or name not in tensors:
            return None
        key_to_name[key] = name
    tied = _tied(tensors, set(key_to_name.values()))
    return CheckpointLayout(key_to_name, tied, frozenset(tensors))


def _named_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by name (aliases included), bridge wrappers left out."""
    named = itertools.chain(
        module.named_parameters(remove_duplicate=False),
        module.named_buffers(remove_duplicate=False),
    )
    return {name.replace("._original_component", ""): tensor for name, tensor in named}


def _tied(tensors: dict[str, torch.Tensor], loaded: set[str]) -> dict[str, str]:
    by_storage = {tensors[name].data_ptr(): name for name in sorted(loaded)}
    return {
        name: by_storage[tensor.data_ptr()]
        for name, tensor in tensors.items()
        if name not in loaded
        and isinstance(tensor, torch.nn.Parameter)
        and tensor.data_ptr() in by_storage
    }


def reload_weights(bridge, layout: CheckpointLayout, files: Sequence[Path]) -> None:
    """Read ``files`` (one checkpoint of the layout's architecture) into ``bridge``, raw.

    Afterwards the bridge computes what a fresh, unprocessed load of that checkpoint computes.
    Every file's tensor names and shapes are checked before any tensor is written.

    Raises:
        ModelLoadError: if the checkpoint's tensors are not the layout's (names or shapes).
    """
    live = _named_tensors(bridge.original_model)
    targets = {path: _targets(path, layout, live) for path in files}
    missing = sorted(set(layout.key_to_name) - {k for t in targets.values() for k in t})
    if missing:
        raise ModelLoadError(f"the checkpoint lacks tensors the model has: {missing[:5]}")
    for path, by_key in targets.items():
        read_safetensors_into(path, by_key)
    with torch.no_grad():
        for name, source in layout.tied.items():
            if live[name].data_ptr() != live[source].data_ptr():
                live[name].copy_(live[source])
        split = _resplit_qkv(bridge)
        for tensor in _added_biases(live, layout, split):
            tensor.zero_()


def _targets(path: Path, layout: CheckpointLayout, live: dict[str, torch.Tensor]):
    """The model tensor each tensor of ``path`` goes into, its shape checked."""
    targets = {}
    for key, entry in read_header(path).items():
        if key not in layout.key_to_name:
            raise ModelLoadError(f"{path} holds a tensor the loaded model has not: {key}")
        target = targets[key] = live[layout.key_to_name[key]]
        if tuple(target.shape) != entry.shape:
            raise ModelLoadError(
                f"{path}: {key} has shape {entry.shape}, the loaded model's {tuple(target.shape)}"
            )
    return targets


def _resplit_qkv(bridge) -> set[int]:
    """Rebuild the q/k/v projections fused-QKV attention splits off at boot; their storages."""
    storages: set[int] = set()
    for block in bridge.blocks:
        attn = block.attn
        if not isinstance(attn, JointQKVAttentionBridge):
            continue
        for part, new in zip((attn.q, attn.k, attn.v), _split(attn), strict=True):
            for field in ("weight", "bias"):
                old, value = getattr(part.original_component, field), getattr(new, field)
                if old is None:
                    continue
                if old.data_ptr() != value.data_ptr():
                    old.copy_(value if value is not None else torch.zeros_like(old))
                storages.add(old.data_ptr())
    return storages


def _split(attn) -> tuple[torch.nn.Module, ...]:
    """The adapter's q/k/v split of the fused projection, without initialising throwaway layers.

    The split builds ``nn.Linear`` layers (randomly initialised, about a third of the switch's
    time) and then replaces their weights with slices of the fused weight; built on the meta
    device, only the slices are real.
    """
    with torch.device("meta"):
        layers = attn.split_qkv_matrix(attn.original_component)
    if any(t.is_meta for layer in layers for t in layer.parameters()):
        layers = attn.split_qkv_matrix(attn.original_component)
    return layers


def _added_biases(live: dict[str, torch.Tensor], layout: CheckpointLayout, split: set[int]):
    """Tensors neither the checkpoint nor the q/k/v split fill: biases the bridge or the
    processing added (zero in the raw model).

    Raises:
        ModelLoadError: for any other such tensor, which a reload could not restore.
    """
    known = {live[name].data_ptr() for name in layout.model_names} | split
    added = {}
    for name, tensor in live.items():
        if tensor.data_ptr() in known or tensor.data_ptr() in added:
            continue
        if not (name.endswith("bias") and tensor.ndim == 1):
            raise ModelLoadError(f"cannot reload {name}: the checkpoint does not hold it")
        added[tensor.data_ptr()] = tensor
    return list(added.values())
