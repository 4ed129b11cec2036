"""The grokking transformer: the paper's shape on boot_native, and the last-position forward."""

from __future__ import annotations

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.toys import GrokkingModelConfig, grokking_model, last_position_logits


@pytest.fixture(scope="module")
def bridge():
    return grokking_model(p=7, seed=0)


def test_bridge_has_the_papers_shape(bridge):
    cfg = bridge.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp) == (1, 128, 4, 32, 512)
    assert (cfg.d_vocab, cfg.d_vocab_out) == (8, 7)
    native = bridge.original_model
    assert native.tok_embed.weight.data_ptr() != native.head.weight.data_ptr()  # untied
    assert native.pos.weight.shape == (3, 128)  # learned positions


def test_last_position_logits_equal_the_full_forward(bridge):
    tokens = torch.randint(0, 7, (9, 3))
    tokens[:, 2] = 7
    with torch.no_grad():
        torch.testing.assert_close(
            last_position_logits(bridge, tokens), bridge(tokens)[:, -1], atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("n_layers", [1, 2])
def test_last_position_logits_with_layer_norm(n_layers):
    """Both routes (one-layer table, deeper models) with a layer norm before attention/MLP."""
    import transformer_lens.model_bridge.sources.native  # noqa: F401
    from transformer_lens.model_bridge import TransformerBridge

    config = GrokkingModelConfig(p=5, seed=1).bridge_config()
    config.n_layers, config.normalization_type = n_layers, "LN"
    model = TransformerBridge.boot_native(config)
    tokens = torch.randint(0, 6, (4, 3))
    with torch.no_grad():
        torch.testing.assert_close(
            last_position_logits(model, tokens), model(tokens)[:, -1], atol=1e-5, rtol=1e-5
        )


def test_run_with_cache_gives_transformer_lens_hooks(bridge):
    tokens = torch.tensor([[1, 2, 7]])
    _, cache = bridge.run_with_cache(
        tokens, names_filter=lambda n: n == "blocks.0.attn.hook_pattern"
    )
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, 4, 3, 3)


def test_config_rejects_inconsistent_heads():
    with pytest.raises(UsageError, match="n_heads \\* d_head"):
        GrokkingModelConfig(n_heads=3)
