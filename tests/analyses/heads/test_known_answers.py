"""Known answers on hand-built models whose heads were planted by setting weights."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.heads import (
    RepeatedTokens,
    attention_scores,
    copy_scores,
    cspa_scores,
    name_mover_scores,
    repeated_tokens,
    successor_scores,
)
from mechcirc.tasks.pairs import PromptPairs

from .planted import PlantedModel, ToyConfig, induction_toy
from .test_bridges import path_patch

DATA = RepeatedTokens(half_len=10, n_sequences=16, seed=0)


@pytest.fixture(scope="module")
def scores():
    return attention_scores(induction_toy(), DATA, batch_size=5)


@pytest.mark.parametrize(
    ("name", "planted"),
    [("previous_token", (0, 0)), ("duplicate_token", (0, 1)), ("induction", (1, 0))],
)
def test_planted_pattern_heads_score_near_one_and_others_near_zero(scores, name, planted):
    values = scores[name].values
    # Below 1 only where random tokens repeat inside a sequence (attention is then shared).
    assert values[planted] > 0.85
    others = values.clone()
    others[planted] = 0
    assert others.max() < 0.06, others


def test_previous_token_head_is_exact(scores):
    assert scores["previous_token"].values[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_scores_keep_the_tokens_they_were_computed_on(scores):
    tokens = scores["induction"].inputs["tokens"]
    assert tokens.shape == (DATA.n_sequences, 2 * DATA.half_len)
    assert torch.equal(tokens[:, : DATA.half_len], tokens[:, DATA.half_len :])


@pytest.fixture(scope="module")
def ov_toy():
    # Layer 0 silent; layer 1: copy, successor, suppress, silent.
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=4))
    return model.plant(1, 0, "copy").plant(1, 1, "successor").plant(1, 2, "suppress")


def test_copying_ov_has_copy_score_one_and_no_other_head_does(ov_toy):
    values = copy_scores(ov_toy, torch.arange(100)).values
    expected = torch.zeros(2, 4)
    expected[1, 0] = 1
    assert torch.equal(values, expected)


def test_successor_ov_has_successor_score_one(ov_toy):
    sequences = [torch.arange(0, 12), torch.arange(40, 47)]
    values = successor_scores(ov_toy, sequences).values
    expected = torch.zeros(2, 4)
    expected[1, 1] = 1
    assert torch.equal(values, expected)


def test_successor_top_k_counts_ties_against_the_target(ov_toy):
    # With k = 3 the copy head still misses: its successor logit ties with every other token.
    values = successor_scores(ov_toy, [torch.arange(0, 5)], k=3).values
    assert values[1, 0] == 0 and values[1, 1] == 1


def test_cspa_is_one_for_a_pure_suppressor_zero_for_a_copier_nan_for_a_silent_head():
    model = PlantedModel(ToyConfig(n_layers=1, n_heads=3)).plant(0, 0, "suppress")
    model.plant(0, 1, "copy")
    values = cspa_scores(model, data=RepeatedTokens(half_len=6, n_sequences=4), batch_size=3).values
    assert values[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert values[0, 1] == pytest.approx(0.0, abs=1e-5)
    assert torch.isnan(values[0, 2])


def _induction_pairs(n: int = 10, batch: int = 6) -> PromptPairs:
    """Clean: a repeated sequence; corrupted: other tokens. Answer: the induction target."""
    generator = torch.Generator().manual_seed(1)
    perm = torch.stack([torch.randperm(100, generator=generator) for _ in range(batch)])
    clean, other = perm[:, :n], perm[:, n : 2 * n]
    return PromptPairs(
        clean=torch.cat([clean, clean], 1),
        corrupted=torch.cat([other, other], 1),
        attention_mask=torch.ones(batch, 2 * n, dtype=torch.long),
        correct=clean[:, :1],  # the last token r_{n-1} was followed by r_0
        incorrect=perm[:, 2 * n : 2 * n + 1],
    )


def test_path_patching_gives_the_whole_effect_to_the_only_path():
    model, pairs = induction_toy(), _induction_pairs()
    result = path_patch(model, pairs, None, ["a1.h0<k>"], batch_size=4)
    assert result.senders == ["a0.h0", "a0.h1", "a0.h2", "a0.h3"]
    assert result.clean_metric == pytest.approx(1.0, abs=1e-4)
    # The previous-token head is the induction head's only key input: full effect, others 0.
    assert result.normalized_effect[0] == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(result.effect[1:], torch.zeros(3), atol=1e-6)


@pytest.mark.parametrize("receiver", ["a1.h0<q>", "a1.h0<v>", "logits"])
def test_previous_token_head_has_no_path_to_inputs_it_does_not_write(receiver):
    result = path_patch(induction_toy(), _induction_pairs(), ["a0.h0"], [receiver])
    assert result.effect.abs().max() < 1e-6


def test_path_patching_to_logits_credits_the_induction_head():
    result = path_patch(induction_toy(), _induction_pairs(), None, ["logits"])
    grid = result.as_grid(2, 4)
    assert grid[1, 0] == pytest.approx(-1.0, abs=1e-4)
    grid[1, 0] = 0
    assert grid.abs().max() < 1e-6


def test_name_mover_score_on_hand_made_positions():
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=2)).plant(1, 0, "copy")
    clean = torch.tensor([[5, 7, 9, 5, 11, 7], [8, 3, 4, 8, 12, 3]])
    pairs = PromptPairs(
        clean=clean,
        corrupted=clean.flip(1),
        attention_mask=torch.ones_like(clean),
        correct=clean[:, 4:5],
        incorrect=clean[:, :1],
        # The copy head attends to the previous token: make that the IO.
        positions={
            "io": torch.tensor([4, 4]),
            "s1": torch.tensor([0, 0]),
            "s2": torch.tensor([3, 3]),
            "end": torch.tensor([5, 5]),
        },
    )
    scores = name_mover_scores(model, pairs.clean, pairs.positions)
    assert scores["attn_io"].values[1, 0] == pytest.approx(1.0, abs=1e-6)
    assert scores["name_mover"].values[1, 0] == pytest.approx(1.0, abs=1e-6)
    assert scores["name_mover"].values[1, 1] == pytest.approx(0.0, abs=1e-6)  # self-attending
    assert scores["attn_s1"].values[1, 0] == pytest.approx(0, abs=1e-6)
    assert scores["attn_s2"].values[1, 0] == pytest.approx(0, abs=1e-6)


def test_repeated_tokens_skip_tokens_without_an_embedding():
    # A token whose input embedding is all zero (never trained, like every token outside the
    # micro-Pythia's corpus) has no identity to match: the pattern scores never sample it.
    model = induction_toy()
    with torch.no_grad():
        model.embed_W_E[: model.cfg.d_vocab // 2] = 0
    tokens = repeated_tokens(model, RepeatedTokens(half_len=10, n_sequences=32, seed=0))
    assert int(tokens.min()) >= model.cfg.d_vocab // 2
    scores = attention_scores(model, RepeatedTokens(half_len=10, n_sequences=16, seed=0))
    assert scores["induction"].values[1, 0] > 0.85
