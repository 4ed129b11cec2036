"""Parameter groups: the tensors L3D decomposes, chosen by name pattern, each tensor once.

Names are the ones users see: TransformerLens names for a bridge (``blocks.0.attn.q.weight``,
``blocks.0.mlp.out.bias``; list them with ``available_names``), the module's own names for a toy.
Patterns are ``fnmatch`` globs, comma-separated for several (``blocks.0.attn.*,blocks.0.ln1.*``).
Aliases of one tensor (tied embeddings, TransformerLens's views of a fused qkv weight) are merged
by storage in :func:`mechcirc.parameters.unique_named_parameters`.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> select_parameters(model, "0.*").names
    ('0.weight', '0.bias')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from torch import Tensor, nn

from mechcirc.errors import UsageError
from mechcirc.parameters import NamedParameter, unique_named_parameters

__all__ = ["ParameterGroup", "available_names", "select_parameters"]


@dataclass(frozen=True)
class ParameterGroup:
    """The selected parameters of ``module``: names, shapes, values and functional_call paths."""

    module: nn.Module
    entries: tuple[NamedParameter, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {e.name: tuple(e.tensor.shape) for e in self.entries}

    @property
    def n_params(self) -> int:
        return sum(e.tensor.numel() for e in self.entries)

    def values(self) -> dict[str, Tensor]:
        """The current (frozen) values, detached, by name."""
        return {e.name: e.tensor.detach() for e in self.entries}

    def substitution(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``functional_call`` keys -> tensors: every module path of each named value."""
        return {path: values[e.name] for e in self.entries for path in e.paths}


def available_names(module: nn.Module) -> list[str]:
    """Every selectable parameter name of ``module`` (aliases included)."""
    return [n for e in unique_named_parameters(module) for n in (e.name, *e.aliases)]


def _split_patterns(patterns: str | Sequence[str]) -> list[str]:
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    return [p.strip() for p in items if p.strip()]


def select_parameters(module: nn.Module, patterns: str | Sequence[str] = "*") -> ParameterGroup:
    """The parameters of ``module`` whose name (or an alias) matches any of ``patterns``."""
    wanted = _split_patterns(patterns)
    if not wanted:
        raise UsageError("empty parameter pattern: give e.g. 'blocks.0.attn.*' or '*'")
    entries = tuple(
        e
        for e in unique_named_parameters(module)
        if any(fnmatchcase(n, p) for n in (e.name, *e.aliases) for p in wanted)
    )
    if not entries:
        names = available_names(module)
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise UsageError(
            f"no parameter matches {','.join(wanted)!r}; parameter names look like: {shown}"
        )
    return ParameterGroup(module, entries)
