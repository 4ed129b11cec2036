"""The grokking model of Varma et al. (after Nanda et al.): a TransformerLens-native config.

One-layer decoder-only transformer, d_model 128, 4 heads of 32, d_mlp 512 (ReLU), learned
positional embeddings, untied embed/unembed, no layer norm, input vocabulary ``P + 1`` (``=``
is token ``P``) and ``P`` output classes. ``grokking_model`` boots it with
``TransformerBridge.boot_native`` so every TransformerLens hook and ``run_with_cache`` work.

Training speed: the bridge's forward is a thin wrapper, but only the last position (``=``)
is ever read, so :func:`last_position_logits` runs the same weights on the last query only
(the MLP and unembedding see one position instead of three). It equals
``bridge(tokens)[:, -1]`` to float precision (tested) and is what the trainer uses;
``benchmarks/trainer.py`` measures it against a plain PyTorch loop.

Example:
    >>> import torch
    >>> bridge = grokking_model(p=7, seed=0)  # doctest: +SKIP
    >>> last_position_logits(bridge, torch.tensor([[1, 2, 7]])).shape  # doctest: +SKIP
    torch.Size([1, 7])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from mechcirc.errors import UsageError


@dataclass(frozen=True)
class GrokkingModelConfig:
    """The paper's shape; ``p`` sets the vocabulary."""

    p: int = 113
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act_fn: str = "relu"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.p < 2:
            raise UsageError(f"p must be at least 2, got {self.p}")
        if self.n_heads * self.d_head != self.d_model:
            raise UsageError(
                f"n_heads * d_head must equal d_model, got {self.n_heads} * {self.d_head} "
                f"!= {self.d_model}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

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

    Works on a booted native model (bridge or its ``NativeModel``) without layer-norm
    subtleties: earlier layers run in full, the last layer's attention reads every key and
    value but only the last query, and its MLP, the final norm and the unembedding see the
    last position only.
    """
    native = native_module(model)
    seq = tokens.shape[1]
    hidden = native.tok_embed(tokens) + native.pos.weight[:seq]
    for block in native.layers[:-1]:
        (hidden,) = block(hidden)
    block = native.layers[-1]
    last = hidden[:, -1] + _last_query_attention(block.attn, block.ln1(hidden))
    if not native.cfg.attn_only:
        last = last + block.mlp(block.ln2(last))
    return native.head(native.ln_out(last))


def _last_query_attention(attn, normed: Float[Tensor, "batch pos d"]) -> Float[Tensor, "batch d"]:
    batch, seq, _ = normed.shape
    query = attn.q(normed[:, -1]).view(batch, attn.n_heads, 1, attn.d_head)
    keys = attn.k(normed).view(batch, seq, attn.n_kv_heads, attn.d_head).transpose(1, 2)
    values = attn.v(normed).view(batch, seq, attn.n_kv_heads, attn.d_head).transpose(1, 2)
    if attn.kv_repeats > 1:
        keys = keys.repeat_interleave(attn.kv_repeats, dim=1)
        values = values.repeat_interleave(attn.kv_repeats, dim=1)
    pattern = torch.softmax(query @ keys.transpose(-2, -1) / attn.scale, dim=-1)
    return attn.o((pattern @ values).reshape(batch, -1))
