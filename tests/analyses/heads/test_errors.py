"""Bad inputs fail with UsageError messages that name what was expected."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.heads import (
    HeadScoresConfig,
    RepeatedTokens,
    attention_scores,
    copy_scores,
    ioi_name_tokens,
    name_mover_scores,
    successor_scores,
)
from mechcirc.analyses.path_patching import PathPatchResult, s_inhibition_to_name_movers
from mechcirc.errors import MechcircError, UsageError
from mechcirc.measures.weights import head_ov_output
from mechcirc.tasks.pairs import PromptPairs

from .planted import PlantedModel, ToyConfig
from .test_bridges import path_patch


@pytest.fixture(scope="module")
def toy():
    return PlantedModel(ToyConfig(n_layers=2, n_heads=2, d_vocab=16, n_ctx=16))


@pytest.fixture(scope="module")
def pairs():
    clean = torch.tensor([[1, 2, 3, 4]])
    return PromptPairs(
        clean=clean,
        corrupted=clean + 1,
        attention_mask=torch.ones_like(clean),
        correct=torch.tensor([[1]]),
        incorrect=torch.tensor([[2]]),
    )


def test_score_names_are_validated():
    parse = HeadScoresConfig.parse_scores
    assert parse("induction, copy") == ("induction", "copy")
    assert parse("previous-token") == ("previous_token",)
    assert len(parse("all")) == 10
    with pytest.raises(UsageError, match="unknown head score.*induction"):
        parse("induction,inducton")
    with pytest.raises(UsageError, match="scores must be one of"):
        HeadScoresConfig(scores=("magic",))
    with pytest.raises(UsageError, match="half_len"):
        HeadScoresConfig(half_len=1)


def test_repeated_tokens_config_is_validated():
    with pytest.raises(UsageError, match="half_len >= 2"):
        RepeatedTokens(half_len=1)


def test_token_scores_need_token_ids_when_the_model_has_no_tokenizer(toy):
    with pytest.raises(UsageError, match="no tokenizer"):
        ioi_name_tokens(None)
    with pytest.raises(UsageError, match=r"token ids in 0\.\.15"):
        copy_scores(toy, torch.tensor([3, 99]))
    with pytest.raises(UsageError, match="k must be a positive integer"):
        copy_scores(toy, torch.tensor([3]), k=0)
    with pytest.raises(UsageError, match="at least one pair"):
        successor_scores(toy, [torch.tensor([3, -1, 4])])


def test_bad_layer_and_batch_size(toy):
    with pytest.raises(UsageError, match=r"layer must be in 0\.\.1, got 2"):
        head_ov_output(toy, 2, torch.zeros(1, toy.cfg.d_model))
    with pytest.raises(UsageError, match="batch_size must be a positive integer"):
        attention_scores(toy, RepeatedTokens(half_len=3, n_sequences=2), batch_size=0)
    with pytest.raises(UsageError, match="BOS"):
        attention_scores(toy, RepeatedTokens(half_len=3, n_sequences=2, prepend_bos=True))


def test_name_movers_need_ioi_positions(toy, pairs):
    with pytest.raises(UsageError, match=r"lack \['io', 's1', 's2', 'end'\]"):
        name_mover_scores(toy, pairs.clean, pairs.positions)


def test_path_patching_validates_nodes(toy, pairs):
    with pytest.raises(UsageError, match="not upstream"):
        path_patch(toy, pairs, ["a1.h0"], ["a1.h1<q>"])
    with pytest.raises(UsageError, match="unknown destination node"):
        path_patch(toy, pairs, None, ["a5.h0<q>"])
    with pytest.raises(UsageError, match="head inputs"):
        path_patch(toy, pairs, None, ["m0"])
    with pytest.raises(UsageError, match="unknown source node"):
        path_patch(toy, pairs, ["a0.h7"], ["logits"])
    with pytest.raises(UsageError, match="no sender heads upstream"):
        path_patch(toy, pairs, None, ["a0.h1<k>"])
    with pytest.raises(UsageError, match="at least one receiver"):
        path_patch(toy, pairs, None, [])
    with pytest.raises(UsageError, match="sender heads look like"):
        s_inhibition_to_name_movers(toy, pairs, ["m0"])


def test_normalized_path_effect_needs_different_baselines(toy, pairs):
    same = PromptPairs(**{**pairs.__dict__, "corrupted": pairs.clean})
    result = path_patch(toy, same, None, ["logits"])
    assert result.clean_metric == result.corrupted_metric
    with pytest.raises(MechcircError, match="clean and corrupted runs give the same mean"):
        _ = result.normalized_effect
    frame = result.to_frame()  # the raw effects stay available
    assert frame["effect"].tolist() == pytest.approx(result.effect.tolist())
    assert frame["normalized_effect"].isna().all()
    nearly = PathPatchResult(["a0.h0"], ["logits"], 2.0, 2.0 + 1e-9, torch.tensor([2.5]))
    with pytest.raises(MechcircError, match="normalized path-patching effect is undefined"):
        _ = nearly.normalized_effect
    apart = PathPatchResult(["a0.h0"], ["logits"], 2.0, 3.0, torch.tensor([2.5]))
    assert apart.normalized_effect.tolist() == pytest.approx([0.5])
