"""Batched runs against their unbatched ground truth: toys trained together, pooled Jacobian
gradients, stacked fits and decompositions, and `mechcirc l3d --seeds` (one folder per seed)."""

from __future__ import annotations

import json

import pytest
import torch

from mechcirc.analyses.l3d import (
    TOYS,
    L3DConfig,
    Subnetworks,
    ToyInputs,
    ToyTrainingConfig,
    decompose,
    decompose_members,
    fit_members,
    get_toy,
    toy_target,
    toy_targets,
    train_toy,
    train_toys,
)
from mechcirc.analyses.l3d.batches import TrainingBatches, step_generator
from mechcirc.analyses.l3d.gradients import flat_gradients, reference_outputs
from mechcirc.analyses.l3d.training import fit
from mechcirc.cli import main
from mechcirc.errors import UsageError

from .planted import PlantedGradients

SHAPES = {"w": (6, 5), "b": (6,)}
TRAINING = ToyTrainingConfig(n_samples=96, steps=40, batch_size=16, lr=1e-2)


def _close(a, b, atol=1e-5, rtol=1e-4):
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


@pytest.mark.parametrize("toy", ["circuit-superposition", "squares", "tms-tied"])
def test_toys_trained_together_equal_toys_trained_alone(toy):
    together = train_toys(TOYS[toy], TRAINING, seeds=[0, 3])
    for seed, model in zip([0, 3], together, strict=True):
        alone = train_toy(TOYS[toy], TRAINING, seed=seed)
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        assert model.state_dict().keys() == alone.state_dict().keys()
        for key, value in alone.state_dict().items():  # parameters and buffers (A included)
            _close(model.state_dict()[key], value, atol=1e-6, rtol=1e-5)
    first = [next(iter(m.parameters())) for m in together]
    assert not torch.equal(*first)  # each seed its own model


@pytest.mark.parametrize("divergence", ["mse", "mse-authors"])
def test_pooled_jacobian_gradients_equal_per_sample_gradients(divergence):
    """A toy with a pool takes J_i^T dD/df; the per-sample vmap(grad) of the same batch agrees."""
    target, _ = toy_target(ToyInputs("squares", 0, TRAINING, divergence))
    config = L3DConfig(n_subnetworks=5, steps=3, batch_size=32, n_train=80)
    batches = TrainingBatches(target, config)
    assert batches.jacobians is not None
    for step in (0, 2, 3):  # step 2 is the last, smaller batch of epoch 0; 3 starts epoch 1
        inputs = batches.inputs(step, step_generator(config.seed, step))
        expected = flat_gradients(
            target, inputs, reference_outputs(target, inputs, step_generator(config.seed, step))
        )
        got = batches(step)
        assert got.shape == expected.shape == (16 if step == 2 else 32, target.group.n_params)
        _close(got, expected)


def test_fit_members_equals_separate_fits():
    config = L3DConfig(n_subnetworks=4, rank=2, steps=30, batch_size=32, lr=0.01, log_every=10)
    planted = [PlantedGradients(SHAPES, n_planted=4, rank=2, seed=s) for s in (0, 1)]
    streams = [lambda step, p=p: p.batch(torch.Generator().manual_seed(step), 32) for p in planted]
    members = fit_members(
        streams, [Subnetworks(SHAPES, 4, ranks=2, seed=s) for s in (0, 5)], config, progress=False
    )
    for stream, seed, member in zip(streams, (0, 5), members, strict=True):
        alone = fit(stream, Subnetworks(SHAPES, 4, ranks=2, seed=seed), config, progress=False)
        assert member.step == alone.step == 30
        assert [r["loss"] for r in member.log] == pytest.approx([r["loss"] for r in alone.log])
        assert [r["dead_subnetworks"] for r in member.log] == [
            r["dead_subnetworks"] for r in alone.log
        ]
        for a, b in zip(member.subnetworks.parameters(), alone.subnetworks.parameters(),
                        strict=True):  # fmt: skip
            _close(a, b)
        moments = [member.optimizer.state_dict(), alone.optimizer.state_dict()]
        for key, slots in moments[1]["state"].items():
            for slot, value in slots.items():
                _close(moments[0]["state"][key][slot], value)
    assert members[0].log[-1]["loss"] != members[1].log[-1]["loss"]


def test_fit_members_refuses_mixed_layouts():
    config = L3DConfig(n_subnetworks=4, steps=1, batch_size=8)
    stream = lambda step: torch.randn(8, 36)  # noqa: E731
    with pytest.raises(UsageError, match="share one layout"):
        fit_members([stream] * 2, [Subnetworks(SHAPES, 4), Subnetworks(SHAPES, 3)], config)
    with pytest.raises(UsageError, match="2 gradient streams for 1"):
        fit_members([stream] * 2, [Subnetworks(SHAPES, 4)], config)
    chunked = config.replace(subnetwork_chunk=2)
    with pytest.raises(UsageError, match="subnetwork_chunk 0"):
        fit_members([stream] * 2, [Subnetworks(SHAPES, 4, seed=s) for s in (0, 1)], chunked)


def _paper(**overrides) -> L3DConfig:
    spec = get_toy("circuit-superposition")
    return L3DConfig.preset(
        "paper", n_subnetworks=spec.n_subnetworks, rank=spec.rank, steps=40, n_train=128,
        n_eval=96, n_references=2, deltas=(0.1,), log_every=20, **overrides,
    )  # fmt: skip


def test_decompose_members_equals_decompose_per_seed_and_divergence():
    inputs = [
        ToyInputs("circuit-superposition", seed, TRAINING, divergence)
        for divergence in ("mse", "mse-authors")
        for seed in (0, 1)
    ]
    built = toy_targets(inputs)
    configs = [_paper(seed=item.seed) for item in inputs]
    batched = decompose_members([t for t, _ in built], configs, progress=False)
    for (target, _), config, result in zip(built, configs, batched, strict=True):
        alone = decompose(target, config, progress=False)
        assert result.loss == pytest.approx(alone.loss, rel=1e-4)
        assert result.dead == alone.dead
        _close(result.impact, alone.impact)
        _close(result.subnetworks.dense("out"), alone.subnetworks.dense("out"))
        assert result.timings["fit_members"] == 4
    # one model per seed, shared by both divergences, as train_toy trains it
    assert torch.equal(built[0][1].W_in, built[2][1].W_in)
    _close(built[1][1].W_in, train_toy(TOYS["circuit-superposition"], TRAINING, seed=1).W_in,
           atol=1e-6, rtol=1e-5)  # fmt: skip


def test_decompose_members_refuses_configs_that_differ_beyond_the_seed():
    target, _ = toy_target(ToyInputs("circuit-superposition", 0, TRAINING))
    with pytest.raises(UsageError, match="differ only in their seed"):
        decompose_members([target, target], [_paper(), _paper(seed=1).replace(steps=20)])
    with pytest.raises(UsageError, match="one config and run per target"):
        decompose_members([target, target], [_paper()])


QUICK = ["--toy-steps", "150", "--steps", "20", "--batch-size", "64", "--n-eval", "96",
         "--n-references", "1", "--set", "n_train=128", "--set", "log_every=10"]  # fmt: skip


@pytest.mark.slow
def test_cli_seeds_write_one_ordinary_run_folder_each(tmp_path, capsys):
    out = tmp_path / "batched"
    assert main(["l3d", "--toy", "tms", *QUICK, "--seeds", "0,2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["seed0", "seed2"]
    alone = tmp_path / "alone"
    assert main(["l3d", "--toy", "tms", *QUICK, "--seed", "2", "--out", str(alone)]) == 0
    batched = json.loads((out / "seed2" / "manifest.json").read_text())
    single = json.loads((alone / "manifest.json").read_text())
    assert batched["status"] == "done" and batched["seed"] == 2
    assert batched["config"] == single["config"] and batched["inputs"] == single["inputs"]
    for key in ("reconstruction_loss", "train_loss"):
        assert batched["metrics"][key] == pytest.approx(single["metrics"][key], rel=1e-4)
    assert batched["metrics"]["dead_subnetworks"] == single["metrics"]["dead_subnetworks"]
    assert str(out / "seed0") in printed and str(out / "seed2") in printed
    again = tmp_path / "again"  # a member folder re-runs alone
    assert main(["rerun", str(out / "seed2"), "--out", str(again)]) == 0
    rerun = json.loads((again / "manifest.json").read_text())["metrics"]
    assert rerun["reconstruction_loss"] == pytest.approx(single["metrics"]["reconstruction_loss"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--toy", "tms", "--seed", "1", "--seeds", "2,3"], "give --seed or --seeds, not both"),
        (["--toy", "tms", "--seeds", "1,1"], "repeated seed or divergence"),
        (["--toy", "tms", "--divergence", "kl"], "--divergence: expected mse or mse-authors"),
        (["--toy", "tms", "--seeds", "0,1", "--resume"], "--resume continues one run"),
        (["--model", "gpt2", "--params", "*", "--seeds", "0,1"], "are for toys"),
    ],
)
def test_member_usage_errors_write_nothing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["l3d", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
