"""Subnetworks, batch top-k, the normalised loss, the planted ground truth, and resuming a fit."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d.checkpoint import load_checkpoint, save_checkpoint
from mechcirc.analyses.l3d.planted import PlantedGradients, direction_recovery
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import (
    L3DConfig,
    batch_topk_mask,
    fit,
    reconstruct,
    reconstruction_loss,
)
from mechcirc.errors import UsageError

SHAPES = {"w": (12, 10), "b": (12,), "u": (8, 12)}


@pytest.mark.parametrize("rank", [1, 2])
def test_tucker_parts_have_the_rank_asked_for(rank):
    subnets = Subnetworks(SHAPES, n_subnetworks=3, rank=rank, seed=0)
    for which in ("in", "out"):
        parts = subnets.unflatten(subnets.dense(which))
        assert torch.linalg.matrix_rank(parts["w"]).tolist() == [rank] * 3
        assert parts["b"].shape == (3, 12)
    norms = subnets.dense("out").norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(3))
    torch.testing.assert_close(subnets.dense("in"), subnets.dense("out"))  # tied at init


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


def test_config_validation():
    with pytest.raises(UsageError, match="topk"):
        L3DConfig(topk=0.0)
    with pytest.raises(UsageError, match="n_subnetworks must be >= 1"):
        L3DConfig(n_subnetworks=0)
    with pytest.raises(UsageError, match="loss_normalisation"):
        L3DConfig(loss_normalisation="max")
    assert L3DConfig(lr=1.0, steps=100).learning_rate(80) == 0.25


@pytest.mark.parametrize(("rank", "steps"), [(1, 600), (2, 1200)])
def test_planted_directions_are_recovered(rank, steps):
    """Acceptance: < 1% reconstruction loss and every planted direction |cos| > 0.99."""
    planted = PlantedGradients(SHAPES, n_planted=6, rank=rank, active_probability=0.1, seed=3)
    config = L3DConfig(n_subnetworks=6, rank=rank, topk=0.15, steps=steps, batch_size=256, lr=0.01)
    subnets = Subnetworks(SHAPES, 6, rank, seed=0)
    fit(
        lambda s: planted.batch(torch.Generator().manual_seed(s), 256),
        subnets,
        config,
        progress=False,
    )
    held_out = planted.batch(torch.Generator().manual_seed(10**6), 4096)
    with torch.no_grad():
        _, _, reconstruction = reconstruct(subnets, held_out, config.topk)
        loss = reconstruction_loss(held_out, reconstruction).item()
        recovery = direction_recovery(planted.directions, subnets.dense("out"))
    assert loss < 0.01
    assert recovery.min() > 0.99


class _Crash(Exception):
    pass


def _planted_run(tmp_path, crash_at: int | None):
    """Fit 30 steps; with ``crash_at``, die after the checkpoint at that step and resume."""
    planted = PlantedGradients(SHAPES, n_planted=4, rank=1, seed=0)
    config = L3DConfig(n_subnetworks=4, steps=30, batch_size=64, lr=0.01, log_every=10)
    path = tmp_path / "checkpoint.safetensors"

    def batches(step):
        return planted.batch(torch.Generator().manual_seed(step), 64)

    def save_then_crash(state):
        save_checkpoint(path, state, config)
        if state.step == crash_at:
            raise _Crash

    subnets = Subnetworks(SHAPES, 4, 1, seed=0)
    if crash_at is None:
        return fit(batches, subnets, config, progress=False)
    with pytest.raises(_Crash):
        fit(
            batches,
            subnets,
            config,
            on_checkpoint=save_then_crash,
            checkpoint_every=10,
            progress=False,
        )
    state = load_checkpoint(path, config, device="cpu")
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
    subnets = Subnetworks({"w": (3, 2)}, 2)
    state = fit(lambda s: torch.randn(8, 6), subnets, config, progress=False)
    save_checkpoint(tmp_path / "c.safetensors", state, config)
    with pytest.raises(UsageError, match="rank: checkpoint 1 vs now 2"):
        load_checkpoint(tmp_path / "c.safetensors", L3DConfig(n_subnetworks=2, rank=2, steps=2))
    with pytest.raises(UsageError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors", config)
