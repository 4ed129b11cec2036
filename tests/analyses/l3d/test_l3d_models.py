"""L3D end to end: TMS subnetworks align with its features; on a tiny TransformerLens model the
attention block's subnetworks intervene more on the samples where they are active."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d.parameters import select_parameters
from mechcirc.analyses.l3d.pipeline import decompose, evaluate
from mechcirc.analyses.l3d.targets import VectorTarget
from mechcirc.analyses.l3d.toy_metrics import (
    feature_impacts,
    purity,
    r_squared,
    recovered_map,
    tms_alignment,
    toy_summary,
)
from mechcirc.analyses.l3d.toys import TOYS, get_toy
from mechcirc.analyses.l3d.training import L3DConfig
from mechcirc.errors import UsageError


def test_tms_subnetworks_align_with_the_features(trained_tms):
    spec = TOYS["tms"]
    target = VectorTarget(select_parameters(trained_tms), spec.sample)
    config = L3DConfig(n_subnetworks=5, rank=1, topk=0.1, steps=500, batch_size=512, lr=0.02)
    state = decompose(target, config, progress=False)
    cos = tms_alignment(trained_tms, state.subnetworks)
    assert cos.max(1).values.min() >= 0.95  # each subnetwork matches one feature ...
    assert sorted(cos.argmax(1).tolist()) == [0, 1, 2, 3, 4]  # ... and all features are covered
    report = evaluate(
        target, state.subnetworks, config, n_eval=2048, n_references=2, interventions=False
    )
    assert report.loss < 0.2
    summary = toy_summary("tms", trained_tms, state.subnetworks, report.inputs, report.impact)
    assert sorted(summary["feature_to_subnetwork"]) == [0, 1, 2, 3, 4]


def test_attention_block_interventions_are_selective(attention_target):
    """Acceptance: moving along a subnetwork changes active samples' outputs more."""
    config = L3DConfig(n_subnetworks=4, rank=1, topk=0.25, steps=30, batch_size=16, lr=0.03)
    state = decompose(attention_target, config, progress=False)
    report = evaluate(
        attention_target, state.subnetworks, config, n_eval=32, n_references=2, deltas=[0.01, 0.03]
    )
    curves = report.curves.dropna()
    assert len(curves) >= 4  # at least two subnetworks with active samples
    smallest = curves[curves["delta"] == 0.01]
    assert (smallest["active"] > smallest["inactive"]).all()
    weighted = (smallest["selectivity"] * smallest["n_active"]).sum() / smallest["n_active"].sum()
    assert weighted > 1.1


def test_recovered_map_and_r_squared():
    truth = torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]])
    assert r_squared(truth * torch.tensor([2.0, -3.0, 0.5]), truth) == pytest.approx(1.0)
    assert r_squared(truth.flip(0), truth) == pytest.approx(1 - 3.8 / 5.5)
    table = torch.tensor([[0.1, 5.0], [4.0, 0.2]])  # feature 0 -> subnetwork 1, 1 -> 0
    assert purity(table).tolist() == pytest.approx([4.0 / 4.1, 5.0 / 5.2])

    class Fake:
        n_subnetworks = 2

        def dense(self, which):
            return torch.tensor([[1.0, 0.0], [0.0, 2.0]])

        def unflatten(self, flat):
            return {"W2": flat.view(2, 2, 1)}

    a_hat = recovered_map(Fake(), table)
    assert a_hat.abs().tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_feature_impacts_use_single_feature_samples():
    x = torch.tensor([[0.5, 0.0], [0.0, 0.3], [0.2, 0.4], [0.0, 0.0]])
    impact = torch.tensor([[2.0, 0.0], [0.0, 3.0], [9.0, 9.0], [7.0, 7.0]])
    assert feature_impacts(x, impact).tolist() == [[2.0, 0.0], [0.0, 3.0]]


def test_toys_train_and_unknown_toy():
    for name, spec in TOYS.items():
        model = spec.build(seed=0)
        x = spec.sample(torch.Generator().manual_seed(0), 8)
        assert model(x).shape == spec.task(model, x).shape, name
    with pytest.raises(UsageError, match="unknown toy 'nope'"):
        get_toy("nope")


def test_building_a_toy_leaves_the_callers_rng_alone():
    for name, spec in TOYS.items():
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        first = spec.build(seed=1)
        assert torch.equal(torch.rand(3), expected), name
        second = spec.build(seed=1).state_dict()  # the seed alone fixes the weights
        for key, value in first.state_dict().items():
            assert torch.equal(value, second[key]), (name, key)
