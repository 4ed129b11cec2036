"""Head scores and path patching on tiny GPT-NeoX, GPT-2 and Llama (grouped-query) bridges."""

from __future__ import annotations

import pytest
import torch

from mechcirc import tasks
from mechcirc.analyses.heads import (
    RepeatedTokens,
    attention_scores,
    copy_scores,
    cspa_scores,
    head_ov_output,
    ioi_name_tokens,
    layer0_representation,
    name_mover_scores,
    successor_scores,
    successor_sequences,
)
from mechcirc.analyses.path_patching import (
    PathPatchConfig,
    s_inhibition_to_name_movers,
)
from mechcirc.analyses.path_patching import (
    path_patch as path_patch_pipeline,
)
from mechcirc.measures.cspa import head_parts
from mechcirc.models.hooks import enable_analysis_hooks


def path_patch(model, pairs, senders, receivers, **options):
    config = PathPatchConfig(
        receivers=tuple(receivers),
        senders=None if senders is None else tuple(senders),
        **options,
    )
    return path_patch_pipeline(model, pairs, config)


DATA = RepeatedTokens(half_len=6, n_sequences=6, seed=3)


def test_attention_scores_do_not_depend_on_batch_size(bridge):
    one = attention_scores(bridge, DATA, batch_size=1)
    many = attention_scores(bridge, DATA, batch_size=4)
    for name, score in one.items():
        assert score.values.shape == (bridge.cfg.n_layers, bridge.cfg.n_heads)
        assert torch.allclose(score.values, many[name].values, atol=1e-6)
        assert score.values.min() >= 0 and score.values.max() <= 1


def test_attention_scores_are_reproducible_with_a_seed(bridge):
    first, again = attention_scores(bridge, DATA), attention_scores(bridge, DATA)
    other = attention_scores(bridge, RepeatedTokens(half_len=6, n_sequences=6, seed=4))
    assert torch.equal(first["induction"].values, again["induction"].values)
    assert torch.equal(first["induction"].inputs["tokens"], again["induction"].inputs["tokens"])
    assert not torch.equal(first["induction"].inputs["tokens"], other["induction"].inputs["tokens"])


def test_repeated_tokens_start_with_bos_when_the_model_prepends_it(bridge):
    tokens = attention_scores(bridge, DATA)["induction"].inputs["tokens"]
    bos = bridge.cfg.default_prepend_bos
    assert tokens.shape == (DATA.n_sequences, 2 * DATA.half_len + int(bos))
    body = tokens[:, int(bos) :]
    assert torch.equal(body[:, : DATA.half_len], body[:, DATA.half_len :])
    assert not set(body.flatten().tolist()) & set(bridge.tokenizer.all_special_ids)


def test_head_ov_output_is_what_a_head_writes_when_it_attends_to_one_token(bridge):
    # In a one-token prompt every head attends fully to that token at every layer.
    tokens = torch.tensor([464, 3290, 1110])
    names = {f"blocks.{layer}.{hook}" for layer in (0, 1) for hook in ("hook_resid_pre",)}
    names |= {f"blocks.{layer}.attn.hook_z" for layer in (0, 1)}
    _, cache = bridge.run_with_cache(tokens[:, None], names_filter=lambda n: n in names)
    for layer in (0, 1):
        written = torch.einsum(
            "nhe,hem->nhm", cache[f"blocks.{layer}.attn.hook_z"][:, 0], bridge.W_O[layer]
        )
        predicted = head_ov_output(bridge, layer, cache[f"blocks.{layer}.hook_resid_pre"][:, 0])
        assert torch.allclose(predicted, written, atol=1e-5)


def test_layer0_representation_is_the_residual_after_block_0(bridge):
    tokens = torch.tensor([464, 3290])
    _, cache = bridge.run_with_cache(
        tokens[:, None], names_filter=lambda n: n == "blocks.0.hook_resid_post"
    )
    got = layer0_representation(bridge, tokens, batch_size=1)
    assert torch.allclose(got, cache["blocks.0.hook_resid_post"][:, 0], atol=1e-6)


def test_copy_and_successor_scores_run_on_default_token_sets(bridge):
    names = ioi_name_tokens(bridge.tokenizer)
    assert len(names) >= 20
    sequences = successor_sequences(bridge.tokenizer)
    assert len(sequences) >= 10
    for definition in ("gould", "layer0"):
        score = successor_scores(bridge, sequences, definition=definition)
        assert score.values.shape == (2, 4)
        assert score.values.min() >= 0 and score.values.max() <= 1
    for score in (copy_scores(bridge, names),):
        assert score.values.shape == (2, 4)
        assert score.values.min() >= 0 and score.values.max() <= 1


def test_cspa_parts_sum_to_the_head_result_and_scores_are_finite(bridge):
    tokens = torch.tensor([[464, 3290, 1110, 464, 3290, 1110]])
    names = {"blocks.1.attn.hook_pattern", "blocks.1.attn.hook_v", "blocks.1.attn.hook_z"}
    _, cache = bridge.run_with_cache(tokens, names_filter=lambda n: n in names)
    output, _ = head_parts(bridge, 1, tokens, cache)
    written = torch.einsum("bqhe,hem->bqhm", cache["blocks.1.attn.hook_z"], bridge.W_O[1])
    assert torch.allclose(output, written, atol=1e-5)
    score = cspa_scores(bridge, data=RepeatedTokens(half_len=4, n_sequences=2), batch_size=2)
    assert score.values.shape == (2, 4) and torch.isfinite(score.values).all()
    assert score.values.max() <= 1 + 1e-6


def _ioi(model, n: int = 6):
    return tasks.get("ioi").generate(model.tokenizer, n, seed=0)


@torch.no_grad()
def _expected_logit_path(model, pairs, layer: int, head: int) -> float:
    """Frozen path to logits: final residual + the sender's output change, then unembed."""
    last = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    names = {last, f"blocks.{layer}.attn.hook_z"}
    _, clean = model.run_with_cache(pairs.clean, names_filter=lambda n: n in names)
    _, corrupt = model.run_with_cache(pairs.corrupted, names_filter=lambda n: n in names)
    delta_z = corrupt[f"blocks.{layer}.attn.hook_z"] - clean[f"blocks.{layer}.attn.hook_z"]
    resid = clean[last] + delta_z[:, :, head] @ model.W_O[layer, head]
    logits = model.ln_final(resid) @ model.W_U + model.b_U
    return float(pairs.evaluate(logits).mean())


def test_path_patching_to_logits_matches_the_frozen_path_computed_by_hand(bridge):
    pairs = _ioi(bridge)
    result = path_patch(bridge, pairs, ["a0.h1", "a1.h2"], ["logits"], batch_size=4)
    for i, (layer, head) in enumerate([(0, 1), (1, 2)]):
        expected = _expected_logit_path(bridge, pairs, layer, head)
        assert result.patched_metric[i] == pytest.approx(expected, abs=1e-4)
    with torch.no_grad():
        clean = float(pairs.evaluate(bridge(pairs.clean)).mean())
    assert result.clean_metric == pytest.approx(clean, abs=1e-5)


def test_path_patching_to_a_query_adds_the_sender_change_to_that_query_only(gpt2_bridge):
    model, pairs = gpt2_bridge, _ioi(gpt2_bridge)
    result = path_patch(model, pairs, ["a0.h3"], ["a1.h2<q>"])
    _, clean = model.run_with_cache(pairs.clean, names_filter=lambda n: n == "blocks.0.attn.hook_z")
    _, corrupt = model.run_with_cache(
        pairs.corrupted, names_filter=lambda n: n == "blocks.0.attn.hook_z"
    )
    delta = (corrupt["blocks.0.attn.hook_z"] - clean["blocks.0.attn.hook_z"])[:, :, 3]
    delta = delta @ model.W_O[0, 3]

    def add(value, hook):
        value = value.clone()
        value[:, :, 2] += delta
        return value

    with torch.no_grad(), enable_analysis_hooks(model):
        logits = model.run_with_hooks(pairs.clean, fwd_hooks=[("blocks.1.hook_q_input", add)])
    assert result.patched_metric[0] == pytest.approx(float(pairs.evaluate(logits).mean()), abs=1e-4)


def test_name_movers_and_s_inhibition_convenience_on_ioi(gpt2_bridge):
    pairs = _ioi(gpt2_bridge, n=8)
    scores = name_mover_scores(gpt2_bridge, pairs.clean, pairs.positions, batch_size=3)
    total = scores["attn_io"].values + scores["attn_s1"].values + scores["attn_s2"].values
    assert (total <= 1 + 1e-5).all() and (scores["attn_io"].values >= 0).all()
    movers = [f"a{layer}.h{head}" for layer, head, _ in scores["name_mover"].top(2) if layer > 0]
    movers = movers or ["a1.h0"]
    result = s_inhibition_to_name_movers(gpt2_bridge, pairs, movers)
    same = path_patch(gpt2_bridge, pairs, None, [f"{m}<q>" for m in movers])
    assert result.senders == [f"a0.h{h}" for h in range(4)]
    assert torch.allclose(result.patched_metric, same.patched_metric)


@pytest.mark.parametrize("receivers", [["logits"], ["a1.h2<q>", "a1.h0<v>"]])
def test_exact_shortcut_equals_the_two_run_definition(bridge, receivers):
    from mechcirc.graph.layout import GraphLayout
    from mechcirc.measures.paths import PathPatcher, receiver_groups

    pairs = _ioi(bridge, n=4)
    groups = receiver_groups(GraphLayout.from_model(bridge), receivers)
    with torch.no_grad(), enable_analysis_hooks(bridge):
        fast = PathPatcher(bridge, pairs.clean, pairs.corrupted, receivers=groups)
        slow = PathPatcher(bridge, pairs.clean, pairs.corrupted)  # receivers not cached
        for senders in ([(0, 1)], [(0, 0), (0, 3)]):
            quick, _ = fast.run(senders, groups)
            full, _ = slow.run(senders, groups)
            assert torch.allclose(quick, full, atol=1e-4)
        end = pairs.answer_pos
        quick, _ = fast.run([(0, 2)], groups, positions=end)
        full, _ = slow.run([(0, 2)], groups, positions=end)
        assert torch.allclose(quick, full, atol=1e-4)


def test_path_patching_leaves_the_hook_switches_as_found(bridge):
    from mechcirc.models.hooks import hook_switches

    before = hook_switches(bridge)
    path_patch(bridge, _ioi(bridge, n=2), ["a0.h0"], ["a1.h1<k>", "logits"], positions="end")
    assert hook_switches(bridge) == before
