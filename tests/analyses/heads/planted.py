"""A hand-built attention-only model with planted heads, for known-answer tests.

The residual stream has four one-hot slots: TOK (the token), POS (the position), PREV (the
previous token, written by a previous-token head) and OUT (read by the unembedding). Heads are
planted by setting their weights; every unplanted head attends to itself and writes nothing.
It exposes TransformerLens hook names (``blocks.L.attn.hook_pattern``, ``hook_z``,
``hook_result``, ``blocks.L.hook_q_input`` ...) and weight properties (``W_V``, ``W_O``,
``W_U`` ...), so the analyses run on it as on a TransformerBridge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

SCALE = 30.0  # attention logit margin: softmax is one-hot to within exp(-30)


@dataclass
class ToyConfig:
    n_layers: int = 2
    n_heads: int = 4
    d_vocab: int = 128
    n_ctx: int = 64
    n_key_value_heads: int | None = None
    parallel_attn_mlp: bool = False
    default_prepend_bos: bool = False

    @property
    def d_model(self) -> int:
        return 3 * self.d_vocab + self.n_ctx

    @property
    def d_head(self) -> int:
        return self.d_vocab + self.n_ctx

    def slot(self, name: str) -> slice:
        start = {"tok": 0, "pos": self.d_vocab, "prev": self.d_vocab + self.n_ctx}.get(
            name, 2 * self.d_vocab + self.n_ctx
        )
        return slice(start, start + (self.n_ctx if name == "pos" else self.d_vocab))


class ToyAttention(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        h, m, e = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q, self.W_K = nn.Parameter(torch.zeros(h, m, e)), nn.Parameter(torch.zeros(h, m, e))
        self.W_V, self.W_O = nn.Parameter(torch.zeros(h, m, e)), nn.Parameter(torch.zeros(h, e, m))
        self.b_V = nn.Parameter(torch.zeros(h, e))
        for name in ("q", "k", "v", "attn_scores", "pattern", "z", "result"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, q_in, k_in, v_in):
        q = self.hook_q(torch.einsum("bphm,hme->bphe", q_in, self.W_Q))
        k = self.hook_k(torch.einsum("bphm,hme->bphe", k_in, self.W_K))
        v = self.hook_v(torch.einsum("bphm,hme->bphe", v_in, self.W_V) + self.b_V)
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
        n = scores.shape[-1]
        causal = torch.ones(n, n, dtype=torch.bool, device=scores.device).tril()
        scores = self.hook_attn_scores(scores.masked_fill(~causal, float("-inf")))
        pattern = self.hook_pattern(scores.softmax(-1))
        z = self.hook_z(torch.einsum("bhqk,bkhe->bqhe", pattern, v))
        return self.hook_result(torch.einsum("bqhe,hem->bqhm", z, self.W_O)).sum(2)


class ToyBlock(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.attn = ToyAttention(cfg)
        for name in ("resid_pre", "q_input", "k_input", "v_input", "attn_out", "resid_post"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, x):
        x = self.hook_resid_pre(x)
        split = x[:, :, None].expand(-1, -1, self.n_heads, -1)
        attn = self.attn(
            self.hook_q_input(split), self.hook_k_input(split), self.hook_v_input(split)
        )
        return self.hook_resid_post(x + self.hook_attn_out(attn))


class PlantedModel(HookedRootModule):
    """Attention-only toy; all heads self-attending and silent until planted."""

    def __init__(self, cfg: ToyConfig | None = None):
        super().__init__()
        self.cfg = cfg or ToyConfig()
        c = self.cfg
        self.embed_W_E = nn.Parameter(torch.zeros(c.d_vocab, c.d_model))
        self.embed_W_E.data[:, c.slot("tok")] = torch.eye(c.d_vocab)
        self.W_pos = nn.Parameter(torch.zeros(c.n_ctx, c.d_model))
        self.W_pos.data[:, c.slot("pos")] = torch.eye(c.n_ctx)
        self.unembed_W_U = nn.Parameter(torch.zeros(c.d_model, c.d_vocab))
        self.unembed_W_U.data[c.slot("out")] = torch.eye(c.d_vocab)
        self.hook_embed, self.hook_pos_embed = HookPoint(), HookPoint()
        self.blocks = nn.ModuleList(ToyBlock(c) for _ in range(c.n_layers))
        for layer in range(c.n_layers):
            for head in range(c.n_heads):
                self.plant(layer, head, "self")
        self.setup()

    # weight properties, shaped as TransformerLens's
    W_E = property(lambda self: self.embed_W_E)
    W_U = property(lambda self: self.unembed_W_U)
    W_Q = property(lambda self: torch.stack([b.attn.W_Q for b in self.blocks]))
    W_K = property(lambda self: torch.stack([b.attn.W_K for b in self.blocks]))
    W_V = property(lambda self: torch.stack([b.attn.W_V for b in self.blocks]))
    W_O = property(lambda self: torch.stack([b.attn.W_O for b in self.blocks]))
    b_V = property(lambda self: torch.stack([b.attn.b_V for b in self.blocks]))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.hook_embed(self.embed_W_E[tokens]) + self.hook_pos_embed(self.W_pos[positions])
        for block in self.blocks:
            x = block(x)
        return x @ self.unembed_W_U

    @torch.no_grad()
    def plant(self, layer: int, head: int, kind: str) -> PlantedModel:
        """Set head ``(layer, head)`` to ``kind``: self | previous | duplicate | induction | copy
        | successor | suppress (copy and suppress attend to the previous token)."""
        c, attn = self.cfg, self.blocks[layer].attn
        for weight in (attn.W_Q, attn.W_K, attn.W_V, attn.W_O):
            weight[head] = 0
        eye_pos, eye_tok = SCALE * torch.eye(c.n_ctx), torch.eye(c.d_vocab)
        head_pos = slice(c.d_vocab, c.d_head)  # head dims used for position matching
        # Self-attention is the fallback when a planted pattern finds no match (duplicate: the
        # token match at the position itself, +1, is cut to +1/2; induction: +1/2).
        self_weight = {"self": 1.0, "duplicate": -0.5, "induction": 0.5}
        if kind in self_weight:
            attn.W_Q[head, c.slot("pos"), head_pos] = eye_pos * self_weight[kind]
            attn.W_K[head, c.slot("pos"), head_pos] = torch.eye(c.n_ctx)
        if kind == "duplicate":  # same token, but never the position itself
            attn.W_Q[head, c.slot("tok"), : c.d_vocab] = SCALE * eye_tok
            attn.W_K[head, c.slot("tok"), : c.d_vocab] = eye_tok
        if kind in ("previous", "copy", "successor", "suppress"):  # key k matches query k + 1
            attn.W_Q[head, c.slot("pos"), head_pos] = eye_pos
            attn.W_K[head, c.slot("pos"), head_pos] = torch.eye(c.n_ctx).roll(1, dims=1)
            attn.W_K[head, c.n_ctx + c.d_vocab - 1, head_pos] = 0  # last position has no k + 1
        if kind == "induction":  # query token matches the key's previous token
            attn.W_Q[head, c.slot("tok"), : c.d_vocab] = SCALE * eye_tok
            attn.W_K[head, c.slot("prev"), : c.d_vocab] = eye_tok
        ov = {
            "previous": ("prev", eye_tok),
            "induction": ("out", eye_tok),
            "copy": ("out", eye_tok),
            "successor": ("out", eye_tok.roll(1, dims=1)),
            "suppress": ("out", -eye_tok),
        }
        if kind in ov:
            target, matrix = ov[kind]
            attn.W_V[head, c.slot("tok"), : c.d_vocab] = eye_tok
            attn.W_O[head, : c.d_vocab, c.slot(target)] = matrix
        return self


def induction_toy() -> PlantedModel:
    """Layer 0: previous-token head 0, duplicate-token head 1; layer 1: induction head 0."""
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=4))
    return model.plant(0, 0, "previous").plant(0, 1, "duplicate").plant(1, 0, "induction")
