"""The one-layer cross-attention transformer of Odonnat et al. as a hooked TransformerLens module.

Forward pass (one query vector, no key matrix; the RMS-normed inputs act as keys)::

    z_t  = RMS(W_E[x_t] + W_pos[t])                      ln1.hook_normalized  [batch, pos, d]
    s_t  = z_t . W_Q / sqrt(d)                           attn.hook_attn_scores [batch, pos]
    a    = softmax(s)                                    attn.hook_pattern     [batch, pos]
    z_A  = (sum_t a_t z_t) @ W_V                         attn.hook_z           [batch, d]
    zb_A = RMS(z_A)                                      ln2.hook_normalized   [batch, d]
    z_O  = r + GELU(zb_A @ W_in + b_in) @ W_out + b_out  hook_resid_post       [batch, d]
    logits = z_O @ W_U   (W_U = W_E^T when tied)         hook_logits           [batch, d_vocab]

The residual ``r`` is ``z_A`` by default, as in the authors' code (``out + mlp(norm2(out))``);
``mlp_residual="normed"`` gives ``r = zb_A``, the paper's equation for z_O. The choice matters:
with ``r = z_A`` the p=2 phase of the curriculum learns parity on every seed we tried (6/6 at
3,000 full-batch steps), with ``r = zb_A`` on 4 of 6.

RMS is parameter-free, ``x / (sqrt(mean(x^2)) + eps)``, and initialisation follows the authors'
code (``facebookresearch/pal``, ``softmax_model.Model``): embeddings N(0, 1), linear maps
uniform in ``+-1/sqrt(fan_in)``. At d=32, p=4, T=12 without MLP biases the model has 9,760
parameters, the authors' count (their paper rounds it to 10,000).

``W_V`` is applied after the attention-weighted sum (equal by linearity, and T times cheaper: it
was most of the training cost), so per-position values are not materialised; they are
``cache["ln1.hook_normalized"] @ model.attn.W_V`` when needed.

Example:
    >>> import torch
    >>> model = HookedCrossAttention(CrossAttentionConfig(d_vocab=4, n_ctx=12, d_model=32, seed=0))
    >>> logits, cache = model.run_with_cache(torch.zeros(2, 12, dtype=torch.long))
    >>> logits.shape, cache["attn.hook_pattern"].shape
    (torch.Size([2, 4]), torch.Size([2, 12]))
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from mechcirc.config import Config, require_positive_int, require_range
from mechcirc.errors import UsageError

__all__ = ["CrossAttentionConfig", "HookedCrossAttention"]


@dataclass(frozen=True)
class CrossAttentionConfig(Config):
    """Shape and options of :class:`HookedCrossAttention` (defaults: the paper's p=4 model)."""

    d_vocab: int = 4
    n_ctx: int = 12
    d_model: int = 32
    d_mlp: int | None = None  # 4 * d_model when None, as in the paper
    tied_embeddings: bool = True
    mlp_bias: bool = False
    mlp_residual: Literal["z_A", "normed"] = "z_A"  # what the MLP's residual adds back
    eps: float = 1e-5
    seed: int | None = None

    def validate(self) -> None:
        for name in ("d_vocab", "n_ctx", "d_model"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("d_mlp", self.d_mlp, allow_none=True)
        require_range("eps", self.eps, 0, low_open=True)
        if self.mlp_residual not in ("z_A", "normed"):
            raise UsageError(
                f"mlp_residual must be 'z_A' (the authors' code) or 'normed' (the paper's "
                f"equation), got {self.mlp_residual!r}"
            )

    @property
    def hidden(self) -> int:
        return self.d_mlp if self.d_mlp is not None else 4 * self.d_model


class RMSNormPre(nn.Module):
    """Parameter-free RMS norm as in the authors' code: ``x / (rms(x) + eps)``."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.hook_normalized = HookPoint()

    def forward(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        rms = x.pow(2).mean(dim=-1, keepdim=True).sqrt() + self.eps
        return self.hook_normalized(x / rms)


class QueryCrossAttention(nn.Module):
    """Attention of one learned query ``W_Q`` over the normed inputs (keys), values ``z @ W_V``."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.W_Q = nn.Parameter(_uniform(d_model, fan_in=d_model))
        self.W_V = nn.Parameter(_uniform(d_model, d_model, fan_in=d_model))
        self.scale = math.sqrt(d_model)
        self.hook_attn_scores = HookPoint()
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()

    def forward(self, z: Float[Tensor, "batch pos d"]) -> Float[Tensor, "batch d"]:
        scores = self.hook_attn_scores(z @ self.W_Q / self.scale)
        pattern = self.hook_pattern(F.softmax(scores, dim=-1))
        mixed = torch.einsum("bp,bpd->bd", pattern, z)
        return self.hook_z(mixed @ self.W_V)


class GeluMLP(nn.Module):
    """Two-layer GELU MLP (exact GELU, as ``F.gelu`` in the authors' code)."""

    def __init__(self, d_model: int, d_mlp: int, bias: bool) -> None:
        super().__init__()
        self.W_in = nn.Parameter(_uniform(d_model, d_mlp, fan_in=d_model))
        self.W_out = nn.Parameter(_uniform(d_mlp, d_model, fan_in=d_mlp))
        self.b_in = nn.Parameter(_uniform(d_mlp, fan_in=d_model)) if bias else None
        self.b_out = nn.Parameter(_uniform(d_model, fan_in=d_mlp)) if bias else None
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "batch d"]) -> Float[Tensor, "batch d"]:
        pre = x @ self.W_in
        if self.b_in is not None:
            pre = pre + self.b_in
        out = self.hook_post(F.gelu(self.hook_pre(pre))) @ self.W_out
        return out + self.b_out if self.b_out is not None else out


class HookedCrossAttention(HookedRootModule):
    """One-layer cross-attention classifier: ``tokens [batch, pos] -> logits [batch, d_vocab]``."""

    def __init__(self, cfg: CrossAttentionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # A seed builds the weights from a private RNG, leaving the caller's untouched.
        with torch.random.fork_rng(devices=[]) if cfg.seed is not None else nullcontext():
            if cfg.seed is not None:
                torch.manual_seed(cfg.seed)
            self.W_E = nn.Parameter(torch.randn(cfg.d_vocab, cfg.d_model))
            self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, cfg.d_model))
            self.attn = QueryCrossAttention(cfg.d_model)
            self.mlp = GeluMLP(cfg.d_model, cfg.hidden, cfg.mlp_bias)
            untied = _uniform(cfg.d_model, cfg.d_vocab, fan_in=cfg.d_model)
            self.W_U = None if cfg.tied_embeddings else nn.Parameter(untied)
        self.ln1 = RMSNormPre(cfg.eps)
        self.ln2 = RMSNormPre(cfg.eps)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.hook_resid_pre = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()
        self.hook_logits = HookPoint()
        self.setup()

    @property
    def unembed(self) -> Float[Tensor, "d d_vocab"]:
        """``W_U``: the transposed token embedding when tied."""
        return self.W_E.T if self.W_U is None else self.W_U

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch d_vocab"]:
        self._check_tokens(tokens)
        embed = self.hook_embed(self.W_E[tokens])
        pos = self.hook_pos_embed(self.W_pos[: tokens.shape[1]].expand_as(embed))
        z = self.ln1(self.hook_resid_pre(embed + pos))
        z_a = self.attn(z)
        z_bar = self.ln2(z_a)
        skip = z_a if self.cfg.mlp_residual == "z_A" else z_bar
        resid = self.hook_resid_post(skip + self.hook_mlp_out(self.mlp(z_bar)))
        return self.hook_logits(resid @ self.unembed)

    def _check_tokens(self, tokens: Tensor) -> None:
        if tokens.ndim != 2 or tokens.dtype not in (torch.long, torch.int, torch.int32):
            raise UsageError(
                f"tokens must be an integer tensor [batch, pos], got {tokens.dtype} "
                f"of shape {tuple(tokens.shape)}"
            )
        if tokens.shape[1] > self.cfg.n_ctx:
            raise UsageError(f"sequence length {tokens.shape[1]} exceeds n_ctx={self.cfg.n_ctx}")


def _uniform(*shape: int, fan_in: int) -> Tensor:
    """``nn.Linear``'s default: uniform in ``+-1/sqrt(fan_in)``."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(*shape).uniform_(-bound, bound)
