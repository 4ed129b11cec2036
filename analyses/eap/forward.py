"""Forward passes for attribution: source activations into one buffer, logits at the answer.

Sources are stored source-major, ``[n_src, batch, pos, d_model]`` in float32, so the sources a
destination reads (a prefix in the graph layout) are one contiguous block and an edge-score
update is a single matrix product. ``input`` is the residual entering block 0 (token
embedding, plus the positional embedding for GPT-2-style models); a head source is the head's
output written to the residual, ``z_h @ W_O[h]``; an MLP source is the MLP output. The
attention output bias ``b_O`` belongs to no source: it is the same in every run, so it never
contributes to a clean - corrupted difference.

Only the logits at each row's answer position are computed (the unembedding is sliced before
it runs): the metric reads nothing else, and the full ``[batch, pos, vocab]`` product is the
largest matrix multiply of a small model. Right-padded batches need no attention mask: with
causal attention the padding after the answer never reaches the answer position.

Example:
    >>> metric = run_metric(model, pairs.clean, pairs)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from jaxtyping import Float, Int
from torch import Tensor

from mechcirc.analyses.eap.model_parts import ModelParts
from mechcirc.tasks import PromptPairs

__all__ = [
    "INPUT_HOOK",
    "Hook",
    "SourceGroup",
    "answer_only_hook",
    "head_outputs",
    "new_source_buffer",
    "record_sources",
    "run_metric",
    "source_groups",
    "source_hooks",
]

Hook = tuple[str, Callable]

INPUT_HOOK = "blocks.0.hook_in"


def head_outputs(
    z: Float[Tensor, "batch pos n_heads d_head"], w_o: Float[Tensor, "n_heads d_head d_model"]
) -> Float[Tensor, "n_heads batch pos d_model"]:
    """Each head's write to the residual stream, head-major."""
    return torch.einsum("bphe,hed->hbpd", z.float(), w_o)


def new_source_buffer(parts: ModelParts, tokens: Int[Tensor, "batch pos"]) -> Tensor:
    batch, pos = tokens.shape
    return torch.zeros(
        parts.layout.n_src, batch, pos, parts.d_model, device=tokens.device, dtype=torch.float32
    )


class SourceGroup(NamedTuple):
    """Sources one hook point computes: the input, a layer's heads (``w_o`` set) or its MLP."""

    rows: slice
    hook: str
    w_o: Tensor | None = None

    def activations(self, x: Tensor) -> Float[Tensor, "n batch pos d_model"]:
        """The group's sources from the hook's value (``hook_z`` -> each head's output)."""
        return x[None] if self.w_o is None else head_outputs(x, self.w_o)


def source_groups(parts: ModelParts) -> list[SourceGroup]:
    """Every source group in forward order."""
    layout = parts.layout
    groups = [SourceGroup(slice(0, 1), INPUT_HOOK)]
    for layer, layer_parts in enumerate(parts.layers):
        heads = SourceGroup(layout.attn_src(layer), f"blocks.{layer}.attn.hook_z", layer_parts.w_o)
        mlp = layout.mlp_src(layer)
        groups += [heads, SourceGroup(slice(mlp, mlp + 1), f"blocks.{layer}.hook_mlp_out")]
    return groups


def source_hooks(parts: ModelParts, write: Callable[[slice, Tensor], None]) -> list[Hook]:
    """Hooks passing each source group's activations, ``[n, batch, pos, d_model]`` and
    detached, to ``write(rows, value)`` as the forward computes them."""

    def hook_for(group: SourceGroup):
        def hook(x, hook):
            write(group.rows, group.activations(x.detach()))

        return hook

    return [(group.hook, hook_for(group)) for group in source_groups(parts)]


def record_sources(
    parts: ModelParts, buffer: Float[Tensor, "n_src batch pos d_model"], sign: float = 1.0
) -> list[Hook]:
    """Hooks that add ``sign * activation`` of every source into ``buffer``."""

    def add(rows: slice, value: Tensor) -> None:
        buffer[rows].add_(value.float(), alpha=sign)

    return source_hooks(parts, add)


def answer_only_hook(answer_pos: Int[Tensor, " batch"]) -> Hook:
    """Slice the unembedding input to the answer position: logits become ``[batch, 1, vocab]``."""

    def hook(resid, hook):
        rows = torch.arange(resid.shape[0], device=resid.device)
        return resid[rows, answer_pos.to(resid.device)].unsqueeze(1)

    return ("unembed.hook_in", hook)


def run_metric(
    model, tokens: Int[Tensor, "batch pos"], pairs: PromptPairs, hooks: Sequence[Hook] = ()
) -> Float[Tensor, " batch"]:
    """The per-example metric of one forward pass of ``tokens`` with ``hooks`` attached."""
    with model.hooks(fwd_hooks=[*hooks, answer_only_hook(pairs.answer_pos)]):
        logits = model(tokens)
    return pairs.metric_at_answer(logits[:, -1].float())
