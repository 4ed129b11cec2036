"""Batch top-k, the normalised loss, the config and its presets, planted ground truth, the
factored fit against the dense fit, and resuming a fit from the shared checkpoint format."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d import L3DConfig, Subnetworks
from mechcirc.analyses.l3d.checkpoint import check_resumable, load_state, save_state
from mechcirc.analyses.l3d.training import (
    batch_topk_mask,
    fit,
    reconstruct,
    reconstruction_loss,
)
from mechcirc.checkpoints import load_checkpoint
from mechcirc.errors import UsageError

from .planted import PlantedGradients, direction_recovery

SHAPES = {"w": (12, 10), "b": (12,), "u": (8, 12)}


def test_batch_topk_keeps_the_largest_magnitudes_over_the_whole_batch():
    acts = torch.tensor([[5.0, -0.1], [-4.0, 3.0], [0.2, 0.0]])
    mask = batch_topk_mask(acts, topk_fraction := 0.5)
    assert mask.sum() == round(topk_fraction * 6)
    assert mask.tolist() == [[True, False], [True, True], [False, False]]
    assert batch_topk_mask(acts, 0.01).sum() == 1  # at least one


def test_loss_normalisations():
    g = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    g_hat = torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert reconstruction_loss(g, g_hat, "batch") == pytest.approx(17 / 26)
    assert reconstruction_loss(g, g_hat, "sample") == pytest.approx((16 / 25 + 1) / 2)


def test_config_validation_and_json_round_trip():
    with pytest.raises(UsageError, match="topk"):
        L3DConfig(topk=0.0)
    with pytest.raises(UsageError, match="n_subnetworks must be a positive integer"):
        L3DConfig(n_subnetworks=0)
    with pytest.raises(UsageError, match="loss_normalisation"):
        L3DConfig(loss_normalisation="max")
    with pytest.raises(UsageError, match="unknown L3DConfig preset 'nope'"):
        L3DConfig.preset("nope")
    assert L3DConfig(lr=1.0, steps=100).learning_rate(80) == 0.25
    config = L3DConfig.preset("paper", deltas=(0.1, 0.3))
    assert L3DConfig.from_dict(config.to_dict()) == config


def test_paper_preset_is_the_authors_schedule():
    """1,000 samples in batches of 32 (32 a epoch), 1,000 epochs, x0.8 every 100 epochs, the
    first two epochs nearly dense."""
    config = L3DConfig.preset("paper")
    assert (config.n_train, config.batch_size, config.steps) == (1000, 32, 32_000)
    assert config.learning_rate(0) == 0.01
    assert config.learning_rate(3199) == 0.01 and config.learning_rate(3200) == pytest.approx(0.008)
    assert config.learning_rate(31_999) == pytest.approx(0.01 * 0.8**9)
    assert config.topk_at(63) == 0.999 and config.topk_at(64) == 0.1
    assert config.weight_decay == 0  # the authors' code runs Adam


@pytest.mark.parametrize(("rank", "steps"), [(1, 600), (2, 1200)])
def test_planted_directions_are_recovered(rank, steps):
    """Acceptance: < 1% reconstruction loss and every planted direction |cos| > 0.99."""
    planted = PlantedGradients(SHAPES, n_planted=6, rank=rank, active_probability=0.1, seed=3)
    config = L3DConfig(n_subnetworks=6, rank=rank, topk=0.15, steps=steps, batch_size=256, lr=0.01)
    subnets = Subnetworks(SHAPES, 6, ranks=rank, seed=0)
    fit(lambda s: planted.batch(torch.Generator().manual_seed(s), 256), subnets, config,
        progress=False)  # fmt: skip
    held_out = planted.batch(torch.Generator().manual_seed(10**6), 4096)
    with torch.no_grad():
        _, _, reconstruction = reconstruct(subnets, held_out, config.topk)
        loss = reconstruction_loss(held_out, reconstruction).item()
        recovery = direction_recovery(planted.directions, subnets.dense("out"))
    assert loss < 0.01
    assert recovery.min() > 0.99


def test_factored_fit_equals_the_dense_fit():
    """Same data, same seed: chunked (factored) and dense maps train to the same subnetworks."""
    planted = PlantedGradients(SHAPES, n_planted=4, rank=2, seed=1)
    states = []
    for chunk in (0, 2):
        config = L3DConfig(n_subnetworks=4, rank=2, steps=40, batch_size=64, subnetwork_chunk=chunk)
        subnets = Subnetworks(SHAPES, 4, ranks=2, seed=0)
        batches = lambda s: planted.batch(torch.Generator().manual_seed(s), 64)  # noqa: E731
        states.append(fit(batches, subnets, config, progress=False))
    dense, factored = states
    assert [r["loss"] for r in dense.log] == pytest.approx([r["loss"] for r in factored.log])
    for a, b in zip(dense.subnetworks.parameters(), factored.subnetworks.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


class _Crash(Exception):
    pass


def _planted_run(tmp_path, crash_at: int | None):
    """Fit 30 steps; with ``crash_at``, die after the checkpoint at that step and resume."""
    planted = PlantedGradients(SHAPES, n_planted=4, rank=1, seed=0)
    config = L3DConfig(
        n_subnetworks=4, steps=30, batch_size=64, lr=0.01, log_every=10, checkpoint_every=10
    )
    path = tmp_path / "checkpoint.safetensors"

    def batches(step):
        return planted.batch(torch.Generator().manual_seed(step), 64)

    def save_then_crash(state):
        save_state(path, state, config)
        if state.step == crash_at:
            raise _Crash

    subnets = Subnetworks(SHAPES, 4, seed=0)
    if crash_at is None:
        return fit(batches, subnets, config, progress=False)
    with pytest.raises(_Crash):
        fit(batches, subnets, config, on_checkpoint=save_then_crash, progress=False)
    assert load_checkpoint(path).metadata["config"] == config.to_dict()  # the shared format
    state = load_state(path, config, device="cpu")
    assert state.step == crash_at
    moments = [v for slots in state.optimizer.state.values() for v in slots.values()]
    assert moments and all(m.device.type == "cpu" for m in moments)
    return fit(batches, state.subnetworks, config, state, progress=False)


def test_resumed_fit_equals_an_uninterrupted_one(tmp_path):
    straight = _planted_run(tmp_path, None)
    resumed = _planted_run(tmp_path, 20)
    assert resumed.step == straight.step == 30
    for a, b in zip(
        straight.subnetworks.parameters(), resumed.subnetworks.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert [r["step"] for r in resumed.log] == [10, 20, 30]


def test_resume_refuses_other_settings(tmp_path):
    config = L3DConfig(n_subnetworks=2, steps=2, batch_size=8)
    state = fit(lambda s: torch.randn(8, 6), Subnetworks({"w": (3, 2)}, 2), config, progress=False)
    save_state(tmp_path / "c.safetensors", state, config)
    check_resumable(tmp_path / "c.safetensors", config.replace(steps=10))  # longer is fine
    check_resumable(tmp_path / "c.safetensors", config.replace(n_eval=5, interventions=False))
    with pytest.raises(UsageError, match="rank: checkpoint 1 vs now 2"):
        load_state(tmp_path / "c.safetensors", config.replace(rank=2))
    with pytest.raises(UsageError, match="no checkpoint"):
        load_state(tmp_path / "missing.safetensors", config)
