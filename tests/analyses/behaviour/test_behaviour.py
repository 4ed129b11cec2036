"""measure_behaviour: clean / corrupted means and accuracy, checked against direct forwards."""

from __future__ import annotations

import json

import pytest
import torch

from mechcirc.analyses.behaviour import BehaviourConfig, measure_behaviour
from mechcirc.analyses.behaviour.pipeline import answer_correct
from mechcirc.errors import UsageError
from mechcirc.models.hooks import hook_switches
from mechcirc.runs import RunFolder
from mechcirc.tasks import load_pairs


def test_accuracy_needs_the_best_correct_answer_above_every_incorrect_one():
    logits = torch.tensor(
        [
            [0.0, 3.0, 1.0, 2.0],  # correct 1 beats incorrect 2, 3
            [0.0, 1.0, 3.0, 2.0],  # incorrect 2 beats correct 1
            [0.0, 1.0, 2.0, 3.0],  # correct {1, 3}: 3 beats incorrect 2
            [5.0, 1.0, 1.0, 0.0],  # a tie is not a win
        ]
    )
    correct = torch.tensor([[1, -1], [1, -1], [1, 3], [1, -1]])
    incorrect = torch.tensor([[2, 3], [2, 3], [2, -1], [2, -1]])
    assert answer_correct(logits, correct, incorrect).tolist() == [True, False, True, False]


@pytest.mark.parametrize("task", ["ioi", "greater-than"])
def test_means_and_accuracy_match_direct_forward_passes(tiny, task):
    model = tiny("gpt-neox")
    pairs = load_pairs(task, model.tokenizer, n=6, seed=1)
    before = hook_switches(model)
    result = measure_behaviour(model, pairs, BehaviourConfig(batch_size=4))
    assert hook_switches(model) == before
    with torch.no_grad():
        clean_logits = model(pairs.clean)
        clean = pairs.evaluate(clean_logits)
        corrupted = pairs.evaluate(model(pairs.corrupted))
    rows = torch.arange(len(pairs))
    at_answer = clean_logits[rows, pairs.answer_pos]
    right = [
        max(at_answer[i, c].item() for c in pairs.correct[i] if c >= 0)
        > max(at_answer[i, c].item() for c in pairs.incorrect[i] if c >= 0)
        for i in range(len(pairs))
    ]
    assert result.clean == pytest.approx(clean.double().mean().item(), abs=1e-5)
    assert result.corrupted == pytest.approx(corrupted.double().mean().item(), abs=1e-5)
    assert result.accuracy == sum(right) / len(right)
    assert result.metric == pairs.metric and result.task == task


def test_results_do_not_depend_on_the_batch_size(tiny):
    model = tiny("gpt2")
    pairs = load_pairs("ioi", model.tokenizer, n=5, seed=0)
    one = measure_behaviour(model, pairs, BehaviourConfig(batch_size=1))
    all_at_once = measure_behaviour(model, pairs, BehaviourConfig(batch_size=5))
    torch.testing.assert_close(one.clean_values, all_at_once.clean_values, atol=1e-5, rtol=0)
    assert torch.equal(one.correct, all_at_once.correct)


def test_a_run_folder_gets_every_output_and_the_metrics(tiny, tmp_path):
    model = tiny("gpt-neox")
    pairs = load_pairs("ioi", model.tokenizer, n=4, seed=0)
    config = BehaviourConfig(batch_size=2)
    with RunFolder.create(tmp_path / "run", command="behaviour", config=config.to_dict()) as run:
        result = measure_behaviour(model, pairs, config, run)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "done"
    assert set(manifest["outputs"]) == {"behaviour.json", "behaviour.safetensors"}
    assert manifest["metrics"]["accuracy"] == result.accuracy
    stored = json.loads((tmp_path / "run" / "behaviour.json").read_text())
    assert stored["clean"] == result.clean and stored["n_examples"] == 4


def test_a_bad_batch_size_is_refused():
    with pytest.raises(UsageError, match="batch_size"):
        BehaviourConfig(batch_size=0)
