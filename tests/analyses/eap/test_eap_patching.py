"""Circuit patching (corrupted runs shared per batch, only the needed destinations patched)
against an independent split-heads reference, and the evaluator's forward-pass accounting."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, smallest_circuit
from mechcirc.analyses.eap import faithfulness as faithfulness_module
from mechcirc.analyses.eap.corrupted_run import first_difference, record_corrupted
from mechcirc.analyses.eap.model_parts import ModelParts
from mechcirc.analyses.eap.patch_plan import PatchPlan
from mechcirc.graph import GraphLayout

from .eap_reference import circuit_metric, count_forwards, private_model, random_pairs


def random_circuit(layout: GraphLayout, density: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(layout.n_src, layout.n_dst, generator=gen) < density
    return keep & layout.real_edges


def structured_circuits(layout: GraphLayout) -> dict[str, torch.Tensor]:
    """Circuits that put whole groups of destinations in each patching mode."""
    real = layout.real_edges
    only_logits = torch.zeros_like(real)
    only_logits[:, layout.logits_dst] = True  # every head and MLP reads the corrupted run
    no_layer_1_keys = real.clone()
    no_layer_1_keys[:, layout.k_dst(1)] = False  # a (GQA) key group fully corrupted
    half_of_each = real.clone()
    half_of_each[::2] = False  # every destination mixed
    return {
        "only logits": only_logits,
        "no layer-1 keys": no_layer_1_keys,
        "half of each": half_of_each,
    }


@pytest.mark.parametrize("density", [0.02, 0.3, 0.7, 0.98])
def test_random_circuits_match_the_split_heads_reference(model, density):
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=4)
    for seed in range(2):
        mask = random_circuit(layout, density, seed)
        expected = float(circuit_metric(model, pairs, mask).double().mean())
        assert evaluator.evaluate(mask).circuit == pytest.approx(expected, abs=1e-5)


def test_structured_circuits_match_the_split_heads_reference(model):
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=4)
    for name, mask in structured_circuits(layout).items():
        expected = float(circuit_metric(model, pairs, mask).double().mean())
        assert evaluator.evaluate(mask).circuit == pytest.approx(expected, abs=1e-5), name


def test_gpt2_style_circuits_match_the_reference():
    # sequential attention/MLP, learned positional embeddings inside ``input``, biases
    model = private_model("gpt2")
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=4)
    for mask in [random_circuit(layout, 0.3), *structured_circuits(layout).values()]:
        expected = float(circuit_metric(model, pairs, mask).double().mean())
        assert evaluator.evaluate(mask).circuit == pytest.approx(expected, abs=1e-5)


def test_empty_and_full_circuits_need_no_forward_and_are_the_baselines(model):
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, random_pairs(), batch_size=4)
    calls = count_forwards(model)
    try:
        empty, full = evaluator.evaluate_many(
            [torch.zeros_like(layout.real_edges), layout.real_edges]
        )
    finally:
        model.reset_hooks()
    assert calls[0] == 0
    assert (empty.circuit, full.circuit) == (evaluator.corrupted, evaluator.clean)
    assert (empty.normalized, full.normalized) == (0.0, 1.0)


def test_a_destination_reading_no_circuit_edge_reproduces_the_corrupted_run_exactly(model):
    # only the logits read edges, and only from MLPs: heads, MLPs and every source are the
    # corrupted run's, so the MLP differences are exactly zero and the logits see corrupted
    layout = GraphLayout.from_model(model)
    mask = torch.zeros_like(layout.real_edges)
    mask[layout.mlp_src(0), layout.logits_dst] = True
    evaluator = FaithfulnessEvaluator(model, random_pairs(), batch_size=4)
    assert evaluator.evaluate(mask).circuit == evaluator.corrupted


@pytest.mark.parametrize("cache", ["all", "first batch", "none"])
def test_evaluate_many_records_each_batch_once_for_all_circuits(model, cache):
    layout = GraphLayout.from_model(model)
    pairs = random_pairs(n=6)  # batches of 4 and 2
    reference = FaithfulnessEvaluator(model, pairs, batch_size=4)
    first_batch = reference._cache[0].nbytes
    limit = {"all": None, "first batch": first_batch, "none": 0}[cache]
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=4, cache_bytes=limit)
    assert evaluator.cached_batches == {"all": 2, "first batch": 1, "none": 0}[cache]
    circuits = [random_circuit(layout, d, seed=1) for d in (0.1, 0.5, 0.9)]
    calls = count_forwards(model)
    try:
        together = evaluator.evaluate_many(circuits)
    finally:
        model.reset_hooks()
    recorded = 2 - evaluator.cached_batches
    assert calls[0] == 2 * len(circuits) + recorded
    one_by_one = [reference.evaluate(c) for c in circuits]
    assert [f.circuit for f in together] == pytest.approx([f.circuit for f in one_by_one], abs=1e-9)


def test_uncached_linear_search_evaluates_in_chunks_and_finds_the_same_circuit(model, monkeypatch):
    pairs = random_pairs()
    graph = attribute(model, pairs, progress=False).graph
    kwargs = {"target": 0.9, "criterion": "fraction-of-clean", "step": 2, "cap": 40}
    cached = smallest_circuit(FaithfulnessEvaluator(model, pairs), graph, **kwargs)
    monkeypatch.setattr(faithfulness_module, "CACHE_LIMIT_BYTES", 0)
    uncached_evaluator = FaithfulnessEvaluator(model, pairs)
    assert not uncached_evaluator.fully_cached
    uncached = smallest_circuit(uncached_evaluator, graph, **kwargs)
    assert (uncached.size, uncached.reached) == (cached.size, cached.reached)
    assert uncached.faithfulness.circuit == pytest.approx(cached.faithfulness.circuit, abs=1e-9)
    coarse = [p["size"] for p in uncached.evaluated if p["size"] % 2 == 0]
    # the chunk holding the first size that reaches the target was evaluated whole
    first = min(n for n in coarse if n >= uncached.size)
    chunk_end = min(40, 2 * 8 * (-(-first // (2 * 8))))
    assert set(range(2, chunk_end + 1, 2)) <= set(coarse)


def test_patch_plan_modes():
    layout = GraphLayout(n_layers=2, n_heads=2, n_kv_heads=1, parallel_attn_mlp=False)
    real = layout.real_edges
    mask = real.clone()
    mask[:, layout.q_dst(1)] = False  # layer-1 queries read no circuit edge
    mask[layout.head_src(0, 1), layout.mlp_dst(1)] = False  # one edge patched into m1
    keep = torch.zeros_like(real)
    keep[0, layout.logits_dst] = True
    mask[:, layout.logits_dst] = keep[:, layout.logits_dst]  # logits read the input only
    plan = PatchPlan.from_mask(layout, mask)
    assert plan.attn[0].untouched and plan.mlp[0].untouched
    assert plan.attn[1].corrupted.tolist() == [0, 1] and plan.attn[1].mixed.tolist() == []
    assert plan.mlp[1].mixed.tolist() == [0] and not plan.mlp[1].from_corrupted.item()
    assert plan.logits.from_corrupted.item()
    assert plan.sources.tolist() == [0, layout.head_src(0, 1)]
    assert plan.mlp[1].weights.tolist() == [[0.0, -1.0]]
    assert plan.logits.weights.tolist() == [[1.0, 0.0]]
    assert plan.n_edges == int(mask.sum()) and not (plan.is_clean or plan.is_corrupted)
    assert PatchPlan.from_mask(layout, real).is_clean
    assert PatchPlan.from_mask(layout, torch.zeros_like(real)).is_corrupted


def test_bfloat16_model_matches_the_reference_and_keeps_the_corrupted_run_exact(arch):
    model = private_model(arch, dtype=torch.bfloat16)
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=4)
    mask = random_circuit(layout, 0.3)
    expected = float(circuit_metric(model, pairs, mask).double().mean())
    assert evaluator.evaluate(mask).circuit == pytest.approx(expected, abs=2e-2)
    only_mlp = torch.zeros_like(layout.real_edges)
    only_mlp[layout.mlp_src(0), layout.logits_dst] = True
    assert evaluator.evaluate(only_mlp).circuit == pytest.approx(evaluator.corrupted, abs=1e-12)


def test_positions_before_the_first_difference_are_skipped_only_under_causal_attention(
    model, monkeypatch
):
    pairs = random_pairs()  # corrupted at position 2
    parts = ModelParts.from_model(model)
    batch = next(pairs.batches(4))
    assert first_difference(batch) == 2
    same = type(batch)(**{**batch.__dict__, "corrupted": batch.clean})
    assert first_difference(same) == batch.clean.shape[1]
    run = record_corrupted(model, parts, batch)
    assert run.start == 2 and run.n_positions == batch.clean.shape[1] - 2
    mask = random_circuit(parts.layout, 0.3)
    causal = FaithfulnessEvaluator(model, pairs, batch_size=4).evaluate(mask).circuit
    monkeypatch.setattr(model.cfg, "attention_dir", "bidirectional")
    assert record_corrupted(model, parts, batch).start == 0
    everywhere = FaithfulnessEvaluator(model, pairs, batch_size=4).evaluate(mask).circuit
    assert everywhere == pytest.approx(causal, abs=1e-6)
