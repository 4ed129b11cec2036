"""The grokking model of Varma et al. (after Nanda et al.): a TransformerLens-native config.

One-layer decoder-only transformer, d_model 128, 4 heads of 32, d_mlp 512 (ReLU), learned
positional embeddings, untied embed/unembed, no layer norm, input vocabulary ``P + 1`` (``=``
is token ``P``) and ``P`` output classes. ``grokking_model`` boots it with
``TransformerBridge.boot_native`` so every TransformerLens hook and ``run_with_cache`` work.

Training speed: only the last position (``=``) is ever read, so :func:`last_position_logits`
runs the same weights on the last query only. In a one-layer model every query, key and value
is a function of one (token, position) pair, so they are computed once per vocabulary entry
and position (``(P + 1) * 3`` rows) and gathered per example, instead of once per example and
position; the attention output, MLP and unembedding then see one row per example. It equals
``bridge(tokens)[:, -1]`` to float precision (tested) and is what the trainer uses: about 2x
the steps/s of computing every position (``benchmarks/trainer.py``). Hooks do not fire on it.

Example:
    >>> import torch
    >>> bridge = grokking_model(p=7, seed=0)  # doctest: +SKIP
    >>> last_position_logits(bridge, torch.tensor([[1, 2, 7]])).shape  # doctest: +SKIP
    torch.Size([1, 7])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from mechcirc.config import Config, require_in, require_positive_int
from mechcirc.errors import UsageError

__all__ = ["GrokkingModelConfig", "grokking_model", "last_position_logits", "native_module"]


@dataclass(frozen=True)
class GrokkingModelConfig(Config):
    """The paper's shape; ``p`` sets the vocabulary."""

    p: int = 113
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act_fn: str = "relu"
    seed: int = 0

    def validate(self) -> None:
        for name in ("d_model", "n_heads", "d_head", "d_mlp"):
            require_positive_int(name, getattr(self, name))
        if isinstance(self.p, bool) or not isinstance(self.p, int) or self.p < 2:
            raise UsageError(f"p must be an integer of at least 2, got {self.p!r}")
        require_in("act_fn", self.act_fn, ("relu", "gelu"))
        if self.n_heads * self.d_head != self.d_model:
            raise UsageError(
                f"n_heads * d_head must equal d_model, got {self.n_heads} * {self.d_head} "
                f"!= {self.d_model}"
            )

    def bridge_config(self):
        """The ``TransformerBridgeConfig`` that ``boot_native`` builds."""
        from transformer_lens.config import TransformerBridgeConfig

        return TransformerBridgeConfig(
            d_model=self.d_model,
            d_head=self.d_head,
            n_heads=self.n_heads,
            d_mlp=self.d_mlp,
            n_layers=1,
            n_ctx=3,
            d_vocab=self.p + 1,
            d_vocab_out=self.p,
            act_fn=self.act_fn,
            normalization_type=None,
            positional_embedding_type="standard",
            seed=self.seed,
        )


def grokking_model(p: int = 113, seed: int = 0, **overrides):
    """A freshly initialised grokking transformer as a ``TransformerBridge`` (CPU, float32)."""
    import transformer_lens.model_bridge.sources.native  # noqa: F401  (attaches boot_native)
    from transformer_lens.model_bridge import TransformerBridge

    config = GrokkingModelConfig(p=p, seed=seed, **overrides)
    return TransformerBridge.boot_native(config.bridge_config())


def native_module(model) -> nn.Module:
    """The bridge's underlying ``NativeModel`` (same parameters), or ``model`` itself."""
    return getattr(model, "original_model", model)


def last_position_logits(model, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch vocab"]:
    """Logits at the last position, computing the last layer for the last query only.

    Works on a booted native model (bridge or its ``NativeModel``): earlier layers run in
    full; the last layer's attention reads every key and value but only the last query, and its
    MLP, the final norm and the unembedding see the last position only. A one-layer model takes
    the per-(token, position) table route described in the module docstring.
    """
    native = native_module(model)
    if len(native.layers) == 1:
        return _one_layer_logits(native, tokens)
    seq = tokens.shape[1]
    hidden = native.tok_embed(tokens) + native.pos.weight[:seq]
    for block in native.layers[:-1]:
        (hidden,) = block(hidden)
    block = native.layers[-1]
    normed = block.ln1(hidden)
    return _finish(native, block, hidden[:, -1] + _attention(block.attn, normed))


def _one_layer_logits(native, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch vocab"]:
    """Layer 0's inputs depend on (token, position) only: project the table, gather rows."""
    batch, seq = tokens.shape
    vocab = native.tok_embed.weight.shape[0]
    table = native.tok_embed.weight[None] + native.pos.weight[:seq, None]  # [seq, vocab, d]
    table = table.reshape(seq * vocab, -1)
    rows = tokens + vocab * torch.arange(seq, device=tokens.device)  # [batch, seq]
    block = native.layers[0]
    attn, normed = block.attn, block.ln1(table)
    keys = F.embedding(rows, attn.k(normed)).view(batch, seq, attn.n_kv_heads, attn.d_head)
    values = F.embedding(rows, attn.v(normed)).view(batch, seq, attn.n_kv_heads, attn.d_head)
    query = F.embedding(rows[:, -1], attn.q(normed)).view(batch, 1, attn.n_heads, attn.d_head)
    if attn.kv_repeats > 1:
        keys = keys.repeat_interleave(attn.kv_repeats, dim=2)
        values = values.repeat_interleave(attn.kv_repeats, dim=2)
    pattern = ((query * keys).sum(-1) / attn.scale).softmax(dim=1)  # [batch, seq, heads]
    mixed = (pattern[..., None] * values).sum(1).reshape(batch, -1)
    return _finish(native, block, F.embedding(rows[:, -1], table) + attn.o(mixed))


def _attention(attn, normed: Float[Tensor, "batch pos d"]) -> Float[Tensor, "batch d"]:
    """The attention output of the last query over every key and value."""
    batch, seq, _ = normed.shape
    query = attn.q(normed[:, -1]).view(batch, attn.n_heads, 1, attn.d_head)
    keys = attn.k(normed).view(batch, seq, attn.n_kv_heads, attn.d_head).transpose(1, 2)
    values = attn.v(normed).view(batch, seq, attn.n_kv_heads, attn.d_head).transpose(1, 2)
    if attn.kv_repeats > 1:
        keys = keys.repeat_interleave(attn.kv_repeats, dim=1)
        values = values.repeat_interleave(attn.kv_repeats, dim=1)
    pattern = torch.softmax(query @ keys.transpose(-2, -1) / attn.scale, dim=-1)
    return attn.o((pattern @ values).reshape(batch, -1))


def _finish(native, block, last: Float[Tensor, "batch d"]) -> Float[Tensor, "batch vocab"]:
    """The last layer's MLP (unless attention-only), the final norm and the unembedding."""
    if not native.cfg.attn_only:
        last = last + block.mlp(block.ln2(last))
    return native.head(native.ln_out(last))
