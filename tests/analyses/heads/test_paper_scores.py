"""Known answers for Tigges et al.'s score definitions on planted models, and the pipeline."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.heads import (
    SCORE_NAMES,
    HeadScoresConfig,
    attention_to_names,
    context_copy_scores,
    cspa_full_scores,
    head_scores,
    successor_scores,
    successor_words,
)
from mechcirc.measures.cspa_full import qk_filter_mask
from mechcirc.models.hooks import hook_switches

from .planted import PlantedModel, ToyConfig

# IO at position 4, S1 at 0, S2 at 3, end at 5: a head attending to the previous token looks
# from the end at the IO.
CLEAN = torch.tensor([[5, 7, 9, 5, 11, 7], [8, 3, 4, 8, 12, 3]])
POSITIONS = {
    "io": torch.tensor([4, 4]),
    "s1": torch.tensor([0, 0]),
    "s2": torch.tensor([3, 3]),
    "end": torch.tensor([5, 5]),
}


@pytest.fixture(scope="module")
def ov_toy():
    # Layer 0 silent; layer 1: copy, successor, suppress, silent.
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=4))
    return model.plant(1, 0, "copy").plant(1, 1, "successor").plant(1, 2, "suppress")


def test_in_context_copy_score_is_one_for_the_copier_only(ov_toy):
    values = context_copy_scores(ov_toy, CLEAN, POSITIONS).values
    expected = torch.zeros(2, 4)
    expected[1, 0] = 1  # the copy head puts each name first; the others never do
    assert torch.equal(values, expected)


def test_negative_copy_score_is_one_for_the_suppressor_only(ov_toy):
    values = context_copy_scores(ov_toy, CLEAN, POSITIONS, negative=True).values
    expected = torch.zeros(2, 4)
    expected[1, 2] = 1
    assert torch.equal(values, expected)


def test_attention_to_s1_and_s2_is_measured_separately():
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=2)).plant(1, 0, "previous")
    # the end now follows S2: the previous-token head attends to S2, not S1 or IO
    positions = {**POSITIONS, "s2": torch.tensor([4, 4]), "io": torch.tensor([3, 3])}
    scores = attention_to_names(model, CLEAN, positions)
    assert scores["attn_s2"].values[1, 0] == pytest.approx(1.0, abs=1e-6)
    assert scores["attn_s1"].values[1, 0] == pytest.approx(0.0, abs=1e-6)
    assert scores["attn_io"].values[1, 0] == pytest.approx(0.0, abs=1e-6)


def test_gould_successor_score_skips_members_that_are_not_single_tokens(ov_toy):
    # Pairs with a -1 member are skipped: 3 valid pairs of 5 (0->1, 1->2, 4->5 among targets).
    sequences = [torch.tensor([0, 1, 2, -1, 4, 5])]
    values = successor_scores(ov_toy, sequences, definition="gould").values
    assert values[1, 1] == 1 and values[1, 0] == 0 and values[1, 2] == 0
    layer0 = successor_scores(ov_toy, sequences, definition="layer0").values
    assert layer0[1, 1] == 1


def test_successor_sequences_are_the_authors_variants():
    words = successor_words()
    assert words["numbers_1_200"][-1] == "200" and len(words["numbers_1_200"]) == 200
    assert words["days"][-1] == "Monday"  # cyclic: Sunday's successor is Monday
    assert words["inverted_space_months_short"][0] == " jan"
    assert "inverted_letters" not in words and " XVIII" in words["space_numerals"]


def test_full_cspa_is_one_for_a_pure_suppressor_zero_for_a_copier_nan_for_a_silent_head():
    model = PlantedModel(ToyConfig(n_layers=1, n_heads=3)).plant(0, 0, "suppress")
    model.plant(0, 1, "copy")
    generator = torch.Generator().manual_seed(0)
    data = torch.stack([torch.randperm(100, generator=generator)[:12] for _ in range(400)])
    # CSPA keeps the suppression relative to the mean output, so a pure suppressor scores
    # 1 - O(1 / (distinct tokens per position in the mean data)): near 1 with 400 sequences.
    values = cspa_full_scores(model, data[:4], mean_tokens=data, batch_size=4).values
    assert values[0, 0] == pytest.approx(1.0, abs=0.02)
    assert values[0, 1] == pytest.approx(0.0, abs=1e-4)
    few = cspa_full_scores(model, data[:4], batch_size=4).values  # mean over 4 sequences only
    assert 0.5 < few[0, 0] < values[0, 0]
    assert torch.isnan(values[0, 2])


def test_qk_filter_keeps_the_top_predicted_first_occurrences():
    # one prompt, 4 positions, tokens 10 11 10 12; destination 3 keeps ceil(0.5 * 4) = 2
    tokens = torch.tensor([[10, 11, 10, 12]])
    lens = torch.tensor([[5.0, 1.0, 5.0, 3.0]]).expand(4, 4)[None, :, :, None].clone()
    keep = qk_filter_mask(lens, tokens, torch.tensor([12]), fraction=0.5)[0, :, :, 0]
    # d=3: candidates (first occurrences, not function words): 10 (5.0), 11 (1.0) -> both kept,
    # with the repeat of 10 at position 2; 12 is a function word.
    assert keep[3].tolist() == [True, True, True, False]
    # d=0: only itself; d=1: ceil(0.5 * 2) = 1 -> token 10 only
    assert keep[0].tolist() == [True, False, False, False]
    assert keep[1].tolist() == [True, False, False, False]


def test_every_score_leaves_the_hook_switches_as_found(bridge):
    before = hook_switches(bridge)
    config = HeadScoresConfig(
        scores=SCORE_NAMES, half_len=4, n_sequences=2, ioi_prompts=4, cspa_sequences=2
    )
    result = head_scores(bridge, config)
    assert hook_switches(bridge) == before
    frame = result.frame()
    assert list(frame.columns[:3]) == ["layer", "head", "induction"]
    assert {"attn_io", "attn_s1", "attn_s2", "context_copy", "cspa"} <= set(frame.columns)
    assert len(frame) == bridge.cfg.n_layers * bridge.cfg.n_heads


def test_config_round_trips_through_json():
    config = HeadScoresConfig(scores=("cspa", "induction"), text="a.txt", cspa_fraction=0.1)
    assert HeadScoresConfig.from_dict(config.to_dict()) == config


def test_the_bundled_corpus_and_a_text_file_become_token_sequences(tmp_path, gpt2_bridge):
    from mechcirc.errors import UsageError
    from mechcirc.measures.corpus import corpus_text, corpus_tokens, model_corpus_tokens

    assert corpus_text().startswith("Four score and seven years ago")
    tokens = model_corpus_tokens(gpt2_bridge, seq_len=61)
    assert tokens.shape[1] == 61 and len(tokens) >= 25  # ~1,400 words of prose
    text = tmp_path / "t.txt"
    text.write_text("one two three four five six seven eight nine ten", "utf-8")
    own = corpus_tokens(gpt2_bridge.tokenizer, corpus_text(text), seq_len=5, bos=0)
    assert own.shape == (2, 5) and (own[:, 0] == 0).all()
    with pytest.raises(UsageError, match="fewer than one sequence"):
        corpus_tokens(gpt2_bridge.tokenizer, "too short", seq_len=61)
    text.write_text("  ", "utf-8")
    with pytest.raises(UsageError, match="empty"):
        corpus_text(text)
