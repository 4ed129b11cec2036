"""Parameters by the names users see, each underlying tensor once, and where to substitute it.

TransformerLens 4 bridges expose one weight under several names: ``named_parameters()`` walks the
wrapped Hugging Face tree (``gpt_neox.layers.0._original_component.attention.q...``), includes a
fused ``qkv`` weight the forward no longer reads (GPT-NeoX: q/k/v are split copies; GPT-2: q/k/v
are strided views of it), and reaches each module along more than one path. Analyses that
select or substitute parameters (L3D, optimisers) need instead:

- the names users see: TransformerLens names (``blocks.0.attn.q.weight``) for a bridge, the
  module's own names otherwise;
- one entry per underlying tensor: entries viewing the same memory with the same shape and
  strides are merged (tied embeddings, aliases), keyed by storage pointer, offset and strides;
- the module paths ``torch.func.functional_call`` must replace, one per owning module. Passing
  every path to the same module (torch's default ``tie_weights=True``) makes functional_call
  save an already-substituted tensor as the "original" when a bridge reaches a module twice, and
  the substitution then leaks into the model after the call (measured on transformer-lens 4.3).

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 2))
    >>> [p.name for p in unique_named_parameters(model)]
    ['0.weight', '0.bias', '1.weight', '1.bias']
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "NamedParameter",
    "is_bridge",
    "trainable_parameters",
    "unique_named_parameters",
    "visible_named_parameters",
]


@dataclass(frozen=True)
class NamedParameter:
    """One underlying parameter tensor: its visible name, other names, and module paths."""

    name: str
    tensor: nn.Parameter
    paths: tuple[str, ...]  # functional_call keys, one per owning module
    aliases: tuple[str, ...] = ()


def is_bridge(model: nn.Module) -> bool:
    """True for a TransformerLens 4 ``TransformerBridge`` (it wraps ``original_model``)."""
    return hasattr(model, "original_model") and hasattr(model, "adapter")


def visible_named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` pairs under the names users see, aliases included."""
    if is_bridge(model):
        state = model.state_dict(keep_vars=True)  # TransformerLens names, live Parameters
        return [(name, value) for name, value in state.items() if isinstance(value, nn.Parameter)]
    return list(model.named_parameters(remove_duplicate=False))


def _storage_key(tensor: torch.Tensor) -> tuple:
    return (
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
    )


def _module_paths(model: nn.Module) -> dict[int, list[str]]:
    """id(parameter) -> its attribute paths, one per distinct owning module."""
    root = model.original_model if is_bridge(model) else model
    owners_seen: set[tuple[int, str]] = set()
    paths: dict[int, list[str]] = {}
    for module_name, module in root.named_modules(remove_duplicate=False):
        for attr, param in module._parameters.items():
            if param is None or (id(module), attr) in owners_seen:
                continue
            owners_seen.add((id(module), attr))
            path = f"{module_name}.{attr}" if module_name else attr
            paths.setdefault(id(param), []).append(path)
    return paths


def unique_named_parameters(model: nn.Module) -> list[NamedParameter]:
    """Each underlying parameter tensor once, under the first name users see for it."""
    paths_by_id = _module_paths(model)
    merged: dict[tuple, dict] = {}
    for name, param in visible_named_parameters(model):
        entry = merged.setdefault(
            _storage_key(param), {"name": name, "tensor": param, "paths": [], "aliases": []}
        )
        if name != entry["name"]:
            entry["aliases"].append(name)
        for path in paths_by_id.get(id(param), []):
            if path not in entry["paths"]:
                entry["paths"].append(path)
    return [
        NamedParameter(e["name"], e["tensor"], tuple(e["paths"]), tuple(e["aliases"]))
        for e in merged.values()
    ]


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The tensors an optimiser should update: each underlying leaf once, ``requires_grad`` only.

    Example:
        >>> model = torch.nn.Linear(2, 2)
        >>> len(trainable_parameters(model))
        2
    """
    return [p.tensor for p in unique_named_parameters(model) if p.tensor.requires_grad]
