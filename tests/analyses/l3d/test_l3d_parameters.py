"""Parameter groups: names users see, aliases merged by storage, substitution without leaks."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d.parameters import available_names, select_parameters
from mechcirc.errors import UsageError
from mechcirc.parameters import unique_named_parameters


def test_attention_block_by_pattern_uses_transformerlens_names(tiny):
    group = select_parameters(tiny("gpt-neox"), "blocks.0.attn.*")
    assert group.names == tuple(
        f"blocks.0.attn.{p}.{k}" for p in "qkvo" for k in ("weight", "bias")
    )
    assert group.n_params == 4 * (32 * 32 + 32)


def test_several_patterns_and_aliases(tiny):
    model = tiny("gpt2")
    # GPT-2 ties the unembedding to the embedding: one tensor, selectable by either name.
    by_alias = select_parameters(model, "unembed.weight")
    assert by_alias.names == ("embed.weight",)
    assert len(by_alias.entries[0].paths) == 2  # wte and lm_head both get the substitute
    group = select_parameters(model, "blocks.0.ln1.*, blocks.1.mlp.out.bias")
    assert group.names == ("blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.1.mlp.out.bias")


def test_fused_qkv_views_are_not_decomposed_twice(tiny):
    """GPT-2's q/k/v are strided views of one fused weight: each element appears once."""
    model = tiny("gpt2")
    entries = [e for e in unique_named_parameters(model) if e.name.startswith("blocks.0.attn.")]
    qkv = [e.tensor for e in entries if e.name.split(".")[3] in "qkv" and "weight" in e.name]
    storages = {t.untyped_storage().data_ptr() for t in qkv}
    assert len(storages) == 1  # they share the fused storage ...
    assert sum(t.numel() for t in qkv) == 3 * 32 * 32  # ... and cover it exactly once
    assert not any("qkv" in n for n in available_names(model))


def test_identical_views_are_merged():
    layer = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(layer, torch.nn.ReLU(), layer)  # the same module twice
    assert [e.name for e in unique_named_parameters(model)] == ["0.weight", "0.bias"]


def test_no_match_lists_names(tiny):
    with pytest.raises(UsageError, match=r"no parameter matches.*blocks\.0\.attn\.q\.weight"):
        select_parameters(tiny("gpt-neox"), "blocks.9.*")
    with pytest.raises(UsageError, match="empty parameter pattern"):
        select_parameters(tiny("gpt-neox"), " , ")


def test_substituted_forward_matches_in_place_edit_and_leaves_model_intact(attention_target):
    """functional_call on the bridge sees the substitute, and the model is unchanged after."""
    target = attention_target
    model = target.group.module
    inputs = target.sample(torch.Generator().manual_seed(0), 4)
    before = model(inputs["tokens"])[:, -1].detach().clone()
    values = {n: v.clone() for n, v in target.group.values().items()}
    shift = {n: v + 0.05 * torch.randn_like(v) for n, v in values.items()}
    substituted = target.outputs(shift, inputs)
    with torch.no_grad():
        for entry in target.group.entries:
            entry.tensor.copy_(shift[entry.name])
        edited = model(inputs["tokens"])[:, -1]
        for entry in target.group.entries:
            entry.tensor.copy_(values[entry.name])
    torch.testing.assert_close(substituted, edited, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(substituted, before, atol=1e-3)
    torch.testing.assert_close(model(inputs["tokens"])[:, -1], before, atol=1e-6, rtol=0)
