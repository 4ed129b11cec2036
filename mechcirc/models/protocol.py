"""What analyses rely on in a model and a tokenizer, as typing Protocols.

A ``TransformerBridge`` from :func:`mechcirc.load_model` or ``tiny_model`` satisfies
:class:`HookedModel`; so does any TransformerLens-style hooked module that exposes the same
members. Analyses annotate their ``model`` parameters with it, so a reader sees what is needed.

Example:
    >>> def n_heads(model: HookedModel) -> int:
    ...     return model.cfg.n_heads
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import Tensor

__all__ = ["HookedModel", "Tokenizer"]

Hook = tuple[str | Callable[[str], bool], Callable[..., Any]]


@runtime_checkable
class Tokenizer(Protocol):
    """The Hugging Face tokenizer members mechcirc calls."""

    pad_token_id: int | None
    eos_token_id: int | None

    def __call__(self, text: str | Sequence[str], **kwargs: Any) -> Any: ...

    def encode(self, text: str, **kwargs: Any) -> list[int]: ...

    def decode(self, ids: Sequence[int] | Tensor, **kwargs: Any) -> str: ...

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> str | list[str]: ...


@runtime_checkable
class HookedModel(Protocol):
    """A hooked transformer: config, hook points, cached and hooked runs, weight views.

    ``cfg`` carries TransformerLens's config fields (``n_layers``, ``n_heads``, ``d_model``,
    ``d_head``, ``d_vocab``, ``n_ctx``, ``n_key_value_heads``, ...). The weight properties are
    TransformerLens's stacked views: ``W_Q`` is ``[n_layers, n_heads, d_model, d_head]``,
    ``W_U`` is ``[d_model, d_vocab]``.
    """

    cfg: Any
    tokenizer: Tokenizer | None

    def __call__(
        self, tokens: Int[Tensor, "batch pos"], **kwargs: Any
    ) -> Float[Tensor, "batch pos d_vocab"]: ...

    def hooks(
        self,
        fwd_hooks: Sequence[Hook] = (),
        bwd_hooks: Sequence[Hook] = (),
        reset_hooks_end: bool = True,
        **kwargs: Any,
    ) -> AbstractContextManager[Any]: ...

    def run_with_cache(self, *args: Any, **kwargs: Any) -> tuple[Tensor, Any]: ...

    def run_with_hooks(self, *args: Any, **kwargs: Any) -> Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    @property
    def W_E(self) -> Float[Tensor, "d_vocab d_model"]: ...

    @property
    def W_U(self) -> Float[Tensor, "d_model d_vocab"]: ...

    @property
    def W_Q(self) -> Float[Tensor, "n_layers n_heads d_model d_head"]: ...

    @property
    def W_K(self) -> Float[Tensor, "n_layers n_heads d_model d_head"]: ...

    @property
    def W_V(self) -> Float[Tensor, "n_layers n_heads d_model d_head"]: ...

    @property
    def W_O(self) -> Float[Tensor, "n_layers n_heads d_head d_model"]: ...
