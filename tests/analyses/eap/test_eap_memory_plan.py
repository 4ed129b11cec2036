"""The memory lower bound of an EAP run and its refusal before anything loads; the
faithfulness cache's limit."""

from __future__ import annotations

import pytest

from mechcirc.analyses.eap import FaithfulnessEvaluator, memory_plan
from mechcirc.analyses.eap import faithfulness as faithfulness_module
from mechcirc.analyses.eap.memory_plan import (
    MemoryPlan,
    check_memory_plan,
    plan_memory,
    task_positions,
)
from mechcirc.cli import main
from mechcirc.errors import UsageError
from mechcirc.models.shape import ModelShape
from mechcirc.models.spec import ModelSpec
from mechcirc.models.tokenizers import pythia_tokenizer
from mechcirc.tasks import load_pairs

from .eap_reference import private_model, random_pairs

PYTHIA_160M = ModelShape(n_layers=12, n_heads=12, d_model=768, n_ctx=2048, vocab_size=50304)
GIB = 2**30


def test_plan_counts_weights_and_one_batch_of_attribution_buffers():
    plan = plan_memory(PYTHIA_160M, batch_size=32, n_positions=21, method="eap-ig-inputs")
    # embedding + 4 d^2 per layer, float32
    assert plan.weights == 4 * (50304 * 768 + 4 * 12 * 768**2)
    # source differences (1 + 12 x 13 sources) + q/k/v gradient workspace (12 + 2 heads)
    assert plan.attribution == 4 * (157 + 14) * 32 * 21 * 768
    assert plan.total == plan.weights + plan.attribution + memory_plan.PROCESS_BYTES
    exact = plan_memory(PYTHIA_160M, batch_size=32, n_positions=21, method="exact")
    assert exact.attribution == 4 * 157 * 32 * 21 * 768
    half = plan_memory(PYTHIA_160M, batch_size=32, n_positions=21, dtype="bfloat16")
    assert half.weights == plan.weights // 2


def test_refusal_says_what_it_needs_and_which_batch_size_fits():
    plan = MemoryPlan(weights=2 * GIB, attribution=8 * GIB, process=0)
    check_memory_plan(plan, None, batch_size=64)  # unknown memory: nothing to check
    check_memory_plan(plan, 10 * GIB, batch_size=64)
    with pytest.raises(UsageError) as refused:
        check_memory_plan(plan, 4 * GIB, batch_size=64)
    message = str(refused.value)
    assert "needs at least 10.0 GiB" in message and "only 4.0 GiB is available" in message
    # 2 GiB left for buffers of 8 GiB / 64 examples each: 16 examples fit
    assert "lower --batch-size (at most about 16 fits)" in message
    with pytest.raises(UsageError, match="use a smaller model"):
        check_memory_plan(plan, 1 * GIB, batch_size=64)


def test_task_positions_is_the_longest_prompt_or_one(tmp_path):
    first = load_pairs("ioi", pythia_tokenizer(), n=16, seed=0).clean.shape[1]
    assert task_positions("ioi", 5000) == first == task_positions("ioi", 16)
    assert task_positions("ioi", 2) == load_pairs("ioi", pythia_tokenizer(), n=2).clean.shape[1]
    ragged = tmp_path / "bad.csv"
    ragged.write_text("clean,corrupted,correct_idx,incorrect_idx\nA B,A B C,5,6\n")
    assert task_positions(str(ragged), 1) == 1


def test_cli_refuses_a_run_that_cannot_fit_before_loading_anything(
    offline_env, tmp_path, capsys, monkeypatch
):
    def no_load(self, **options):
        raise AssertionError("the model must not load")

    monkeypatch.setattr(ModelSpec, "load", no_load)
    monkeypatch.setattr(memory_plan, "available_memory", lambda device="cpu": 64 * 2**20)
    out = tmp_path / "run"
    argv = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--out", str(out)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: this run needs at least")
    assert "only 0.1 GiB is available" in lines[-1]
    assert not out.exists()


def test_cli_refuses_an_absurd_batch_with_the_real_memory(offline_env, tmp_path, capsys):
    # 20 million pairs in one batch of 21 positions: the source buffer alone is terabytes
    out = tmp_path / "run"
    argv = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--out", str(out)]
    assert main([*argv, "--n", "20000000", "--batch-size", "20000000", "--method", "eap"]) == 2
    assert "lower --batch-size" in capsys.readouterr().err
    assert not out.exists()


def test_cache_limit_is_the_weights_size_capped(monkeypatch):
    model = private_model("gpt-neox")
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert faithfulness_module.cache_limit(model) == min(weights, 2**30)
    monkeypatch.setattr(faithfulness_module, "CACHE_LIMIT_BYTES", 1000)
    assert faithfulness_module.cache_limit(model) == 1000
    pairs = random_pairs(n=6)
    per_batch = FaithfulnessEvaluator(model, pairs, batch_size=2, cache_bytes=GIB)._cache[0].nbytes
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=2, cache_bytes=2 * per_batch)
    assert evaluator.cached_batches == 2 and not evaluator.fully_cached
