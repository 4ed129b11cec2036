"""Known answers of the trained micro-Pythia, found with mechcirc's own analyses.

At the last checkpoint the model solves the four tasks and has known heads: a previous-token
head in layer 0 and three induction heads in layer 1 (the classic two-layer induction circuit),
and one IOI head, a2.h1, that attends from the end to the subject and writes against it: path
patching finds it carrying most of the logit difference straight to the logits, ablating it
removes the behaviour, and EAP-IG's circuit is a handful of edges around it. The model finds
the subject by its place in the sentence (through the first MLP), not by detecting the
duplicate: no head has a duplicate-token score, and the induction heads are not needed for IOI.
By Tigges et al.'s rules, with CSPA on the model's own text, a2.h1 is a copy-suppression head
and carries the whole direct share. At step 0 nothing of this exists. If a change to an
analysis stops it finding these, a test here fails.
"""

from __future__ import annotations

import pytest
import torch

from mechcirc import tasks
from mechcirc.analyses.components import IOIComponentsConfig, run_ioi_components
from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, smallest_circuit
from mechcirc.analyses.heads import (
    RepeatedTokens,
    attention_scores,
    head_ov_logits,
    ioi_name_tokens,
    layer0_representation,
    name_mover_scores,
)
from mechcirc.analyses.micro_pythia.corpus import pair_token_ids
from mechcirc.analyses.micro_pythia.measure import TASKS, behaviours, unused_mass
from mechcirc.analyses.path_patching import PathPatchConfig, path_patch
from mechcirc.graph import GraphLayout
from mechcirc.measures.corpus import corpus_tokens, model_corpus_tokens
from mechcirc.measures.cspa_full import cspa_full_scores
from mechcirc.models.tokenizers import pythia_tokenizer

from .conftest import FIRST, LAST, SPEC

# The known heads at the last checkpoint (layer, head).
INDUCTION_HEADS = ((1, 0), (1, 1), (1, 2))
PREVIOUS_TOKEN_HEAD = (0, 0)
SUBJECT_MOVER = "a2.h1"  # moves the subject's name to the end, negatively
REPEATS = RepeatedTokens(half_len=20, n_sequences=16, seed=0)


def _head(name: str) -> tuple[int, int]:
    layer, head = name[1:].split(".h")
    return int(layer), int(head)


@pytest.fixture(scope="module")
def ioi_pairs(micro):
    return tasks.load_pairs("ioi", micro().tokenizer, n=16, seed=0)


@pytest.fixture(scope="module")
def direct_effects(micro, ioi_pairs):
    """Path patching of every head into the logits, per revision (computed once)."""
    found = {}

    def get(revision: str):
        if revision not in found:
            found[revision] = path_patch(micro(revision), ioi_pairs, PathPatchConfig())
        return found[revision]

    return get


def test_last_checkpoint_solves_the_tasks(micro):
    found = behaviours(micro(LAST), n=64, seed=0)
    assert found["ioi"].accuracy >= 0.95 and found["ioi"].mean >= 3.0
    assert found["greater-than"].mean >= 0.5
    assert found["gendered-pronoun"].accuracy >= 0.85 and found["gendered-pronoun"].mean >= 1.0
    # subject-verb agreement is scored as a probability difference (in [-1, 1]), as Tigges et al.
    agreement = found["subject-verb-agreement"]
    assert agreement.metric == "prob_diff", agreement
    assert agreement.accuracy >= 0.85 and agreement.mean >= 0.4, agreement


def test_step0_is_at_chance(micro):
    found = behaviours(micro(FIRST), n=64, seed=0)
    for name in TASKS:
        assert abs(found[name].mean) < 0.1, found[name]
        assert 0.25 <= found[name].accuracy <= 0.75 or name == "greater-than", found[name]


def test_evaluation_prompts_use_only_the_corpus_vocabulary():
    tokenizer = pythia_tokenizer()
    for name in TASKS:
        pairs = tasks.load_pairs(name, tokenizer, n=256, seed=0)
        assert pair_token_ids(pairs) <= set(SPEC.token_ids), name


@pytest.mark.parametrize("revision", [FIRST, LAST])
def test_tokens_outside_the_corpus_hold_negligible_probability(micro, revision):
    model = micro(revision)
    for name in TASKS:
        pairs = tasks.load_pairs(name, model.tokenizer, n=16, seed=0)
        assert float(unused_mass(model, pairs, SPEC.token_ids).max()) < 1e-6, name


def test_induction_and_previous_token_heads_form_and_no_duplicate_token_head(micro):
    end = attention_scores(micro(LAST), REPEATS)
    start = attention_scores(micro(FIRST), REPEATS)
    induction = end["induction"].values
    others = induction.clone()
    for head in INDUCTION_HEADS:
        assert induction[head] >= 0.8, induction
        others[head] = 0
    assert others.max() < 0.1
    assert end["previous_token"].top(1)[0][:2] == PREVIOUS_TOKEN_HEAD
    assert end["previous_token"].values[PREVIOUS_TOKEN_HEAD] >= 0.7
    assert end["duplicate_token"].values.max() < 0.2
    for score in ("induction", "previous_token", "duplicate_token"):
        assert start[score].values.max() < 0.2, score


def test_subject_mover_carries_the_direct_effect_on_the_logit_difference(direct_effects):
    result = direct_effects(LAST)
    effect = result.to_frame().set_index("sender")["normalized_effect"]
    assert effect.idxmax() == SUBJECT_MOVER and effect[SUBJECT_MOVER] >= 0.5
    assert effect.drop(SUBJECT_MOVER).abs().max() < 0.05
    assert result.clean_metric - result.corrupted_metric > 5.0


def test_subject_mover_attends_to_the_subject_and_writes_against_names(micro, ioi_pairs):
    model = micro(LAST)
    scores = name_mover_scores(model, ioi_pairs.clean, ioi_pairs.positions)
    head = _head(SUBJECT_MOVER)
    assert scores["attn_s1"].values[head] + scores["attn_s2"].values[head] >= 0.9
    assert scores["name_mover"].values[head] <= -0.8
    # Its OV circuit: a name's own logit is the lowest among the names far more often than
    # chance (1 / number of names), and never the highest.
    names = ioi_name_tokens(model.tokenizer)
    logits = head_ov_logits(model, head[0], layer0_representation(model, names))
    own = logits[:, head[1], names]  # [name read, name logit]
    lowest = (own.argmin(-1) == torch.arange(len(names))).float().mean()
    highest = (own.argmax(-1) == torch.arange(len(names))).float().mean()
    assert lowest >= 10 / len(names) and highest == 0


def test_ablations_find_the_subject_mover_and_the_first_mlp(micro, ioi_pairs):
    model = micro(LAST)
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, ioi_pairs)

    def without(*nodes: str) -> float:
        # Every edge out of the nodes carries its corrupted value: resample ablation.
        kept = layout.real_edges.clone()
        for name in nodes:
            kept[layout.src_index(name)] = False
        return evaluator.evaluate(kept).normalized

    assert without(SUBJECT_MOVER) < 0.2
    assert without("m0") < 0.2
    assert without(*(f"a{layer}.h{head}" for layer, head in INDUCTION_HEADS)) > 0.8
    assert without(*(f"a3.h{head}" for head in range(layout.n_heads))) > 0.8


def test_eap_ig_circuit_is_small_faithful_and_holds_the_subject_mover(micro):
    model = micro(LAST)
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=32, seed=0)
    graph = attribute(model, pairs, "eap-ig-inputs", ig_steps=5, progress=False).graph
    search = smallest_circuit(FaithfulnessEvaluator(model, pairs), graph, target=0.8)
    assert search.reached and search.faithfulness.normalized >= 0.8
    assert search.circuit.n_edges_in_graph <= 0.1 * graph.layout.n_edges
    assert search.circuit.node_in_graph[SUBJECT_MOVER]
    assert search.circuit.node_in_graph["m0"]


def test_step0_has_no_behaviour_to_explain_and_no_direct_effects(direct_effects):
    final, start = direct_effects(LAST), direct_effects(FIRST)
    final_gap = final.clean_metric - final.corrupted_metric
    start_gap = start.clean_metric - start.corrupted_metric
    # The clean - corrupted difference any IOI circuit would explain is nil at step 0.
    assert abs(start_gap) < 0.01 * final_gap
    assert float(start.effect.abs().max()) < 0.01 * final_gap


def test_ioi_roles_find_the_subject_mover_as_the_copy_suppression_head(micro, ioi_pairs):
    """Tigges et al.'s role rules at the last checkpoint (CSPA on the micro-Pythia's own text):
    a2.h1 is the one copy-suppression head, no head is a (negative) name mover, and the direct
    share is a2.h1's path-patching effect, so the roles account for the direct path totals."""
    model = micro(LAST)
    result = run_ioi_components(model, ioi_pairs, IOIComponentsConfig())
    head = _head(SUBJECT_MOVER)
    assert result.roles["copy_suppression"] == [head]
    assert result.roles["name_mover"] == [] and result.roles["negative_name_mover"] == []
    assert result.scores["cspa"][head] > 0.10
    direct = result.effects["direct_effect"]
    assert result.share("copy_suppression") == pytest.approx(-100 * float(direct[head]))
    assert result.share("direct") == pytest.approx(result.share("copy_suppression"))
    assert result.share("copy_suppression") >= 50
    # What the model copies: a head with copy score >= 0.8 reads both first-clause names
    # (IO and S1) and not the repeated S2; a2.h1 then suppresses the repeated one.
    copy, attn = result.scores["context_copy"], result.scores
    copiers = [
        h
        for h in zip(*torch.nonzero(copy >= 0.8, as_tuple=True), strict=True)
        if attn["attn_io"][h] >= 0.25 and attn["attn_s1"][h] >= 0.25 and attn["attn_s2"][h] < 0.05
    ]
    assert copiers, copy


def test_copy_suppression_shows_on_the_models_own_text_and_not_on_english(micro):
    """English prose lies mostly outside the micro-Pythia's 516 tokens: CSPA there says
    nothing, which is why its natural-text measures default to its own held-out text."""
    model = micro(LAST)
    head = _head(SUBJECT_MOVER)
    own = model_corpus_tokens(model)
    english = corpus_tokens(model.tokenizer, seq_len=own.shape[1])
    scores = {
        name: float(
            cspa_full_scores(model, tokens[:17], mean_tokens=tokens, heads=[head]).values[head]
        )
        for name, tokens in (("own", own), ("english", english))
    }
    assert scores["own"] > 0.10 > scores["english"], scores
