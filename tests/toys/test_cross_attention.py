"""HookedCrossAttention: forward vs a direct recomputation, hooks and shapes, parameter count."""

from __future__ import annotations

import math

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention
from tests.shape_checks import unchecked

DOCUMENTED_SHAPES = {  # batch 3, pos 12, d 32, d_mlp 128, vocab 4
    "hook_embed": (3, 12, 32),
    "hook_pos_embed": (3, 12, 32),
    "hook_resid_pre": (3, 12, 32),
    "ln1.hook_normalized": (3, 12, 32),
    "attn.hook_attn_scores": (3, 12),
    "attn.hook_pattern": (3, 12),
    "attn.hook_z": (3, 32),
    "ln2.hook_normalized": (3, 32),
    "mlp.hook_pre": (3, 128),
    "mlp.hook_post": (3, 128),
    "hook_mlp_out": (3, 32),
    "hook_resid_post": (3, 32),
    "hook_logits": (3, 4),
}


def recompute(model: HookedCrossAttention, tokens: torch.Tensor) -> torch.Tensor:
    """The model's equations, one sequence at a time, values per position before mixing."""
    cfg = model.cfg
    out = []
    for seq in tokens:
        z = model.W_E[seq] + model.W_pos[: len(seq)]
        z = z / (z.pow(2).mean(-1, keepdim=True).sqrt() + cfg.eps)
        attn = torch.softmax(z @ model.attn.W_Q / math.sqrt(cfg.d_model), dim=0)
        values = torch.stack([z[t] @ model.attn.W_V for t in range(len(seq))])
        z_a = (attn[:, None] * values).sum(0)
        z_bar = z_a / (z_a.pow(2).mean().sqrt() + cfg.eps)
        hidden = z_bar @ model.mlp.W_in
        if cfg.mlp_bias:
            hidden = hidden + model.mlp.b_in
        mlp = torch.nn.functional.gelu(hidden) @ model.mlp.W_out
        if cfg.mlp_bias:
            mlp = mlp + model.mlp.b_out
        unembed = model.W_E.T if cfg.tied_embeddings else model.W_U
        skip = z_a if cfg.mlp_residual == "z_A" else z_bar
        out.append((skip + mlp) @ unembed)
    return torch.stack(out)


@pytest.mark.parametrize(
    "tied, bias, residual", [(True, False, "z_A"), (False, True, "z_A"), (True, False, "normed")]
)
def test_forward_equals_direct_recomputation(tied, bias, residual):
    cfg = CrossAttentionConfig(tied_embeddings=tied, mlp_bias=bias, mlp_residual=residual, seed=1)
    model = HookedCrossAttention(cfg)
    tokens = torch.randint(0, 4, (6, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), recompute(model, tokens), atol=1e-5, rtol=1e-5)


def test_the_residual_choice_changes_the_output():
    tokens = torch.randint(0, 4, (6, 12), generator=torch.Generator().manual_seed(0))
    code, paper = (
        HookedCrossAttention(CrossAttentionConfig(mlp_residual=residual, seed=1))
        for residual in ("z_A", "normed")
    )
    paper.load_state_dict(code.state_dict())
    with torch.no_grad():
        _, cache = code.run_with_cache(tokens)
        skip = cache["hook_resid_post"] - cache["hook_mlp_out"]
        torch.testing.assert_close(skip, cache["attn.hook_z"])
        assert not torch.allclose(code(tokens), paper(tokens))


def test_hooks_fire_with_documented_shapes():
    model = HookedCrossAttention(CrossAttentionConfig(seed=0))
    logits, cache = model.run_with_cache(torch.zeros(3, 12, dtype=torch.long))
    assert {name: tuple(t.shape) for name, t in cache.items()} == DOCUMENTED_SHAPES
    torch.testing.assert_close(cache["hook_logits"], logits)
    torch.testing.assert_close(cache["attn.hook_pattern"].sum(-1), torch.ones(3))


def test_zero_ablating_z_a_gives_zero_logits_without_biases():
    # RMS(0) = 0 and the MLP without biases maps 0 to 0, so every logit is 0.
    model = HookedCrossAttention(CrossAttentionConfig(seed=0))
    tokens = torch.randint(0, 4, (5, 12))
    ablated = model.run_with_hooks(tokens, fwd_hooks=[("attn.hook_z", lambda z, hook: z * 0)])
    assert torch.equal(ablated, torch.zeros(5, 4))
    assert not torch.equal(model(tokens), ablated)


def test_parameter_count_matches_the_authors_model():
    d, vocab, seq, hidden = 32, 4, 12, 128
    # facebookresearch/pal softmax_model.Model: token + position embeddings, query (1 x d),
    # value (d x d), fc1/fc2 without bias, output tied to the token embedding.
    authors = vocab * d + seq * d + d + d * d + 2 * hidden * d
    model = HookedCrossAttention(CrossAttentionConfig(d_vocab=vocab, n_ctx=seq, d_model=d))
    assert sum(p.numel() for p in model.parameters()) == authors == 9760
    untied = HookedCrossAttention(CrossAttentionConfig(tied_embeddings=False, mlp_bias=True))
    assert sum(p.numel() for p in untied.parameters()) == authors + d * vocab + hidden + d


def test_seed_fixes_weights_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first = HookedCrossAttention(CrossAttentionConfig(seed=7))
    assert torch.equal(torch.rand(1), expected)
    second = HookedCrossAttention(CrossAttentionConfig(seed=7))
    assert all(
        torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True)
    )


def test_bad_inputs_are_usage_errors():
    model = HookedCrossAttention(CrossAttentionConfig(n_ctx=12))
    with unchecked(), pytest.raises(UsageError, match="integer tensor"):
        model(torch.zeros(2, 12))
    with pytest.raises(UsageError, match="exceeds n_ctx=12"):
        model(torch.zeros(2, 13, dtype=torch.long))
    with pytest.raises(UsageError, match="d_model"):
        CrossAttentionConfig(d_model=0)
    with pytest.raises(UsageError, match="mlp_residual must be 'z_A'"):
        CrossAttentionConfig(mlp_residual="raw")
