"""Subnetworks stored as Tucker factors: ranks, the factored (chunked) maps equal the dense
ones (values and gradients), saving and loading, and memory that grows with the rank."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d import L3DConfig, Subnetworks, load_subnetworks
from mechcirc.analyses.l3d.checkpoint import save_subnetworks
from mechcirc.errors import UsageError

SHAPES = {"w": (12, 10), "b": (12,), "u": (8, 12)}


@pytest.mark.parametrize("rank", [1, 2])
def test_tucker_parts_have_the_rank_asked_for(rank):
    subnets = Subnetworks(SHAPES, n_subnetworks=3, ranks=rank, seed=0)
    for which in ("in", "out"):
        parts = subnets.unflatten(subnets.dense(which))
        assert torch.linalg.matrix_rank(parts["w"]).tolist() == [rank] * 3
        assert parts["b"].shape == (3, 12)
    torch.testing.assert_close(subnets.dense("out").norm(dim=1), torch.ones(3))
    torch.testing.assert_close(subnets.dense("in"), subnets.dense("out"))  # tied at init


def test_rank_fraction_sets_each_modes_rank():
    config = L3DConfig(rank_fraction=0.25)
    subnets = Subnetworks({"q": (40, 8), "b": (3,)}, 2, ranks=config.mode_rank)
    assert subnets.ranks == {"q": [10, 2], "b": [1]}
    with pytest.raises(UsageError, match="do not match"):
        Subnetworks({"q": (4, 4)}, 2, ranks={"q": [1]})


def _gradients_of(subnets, g, chunk):
    subnets.zero_grad()
    activations = subnets.project(g, "in", chunk)
    mask = activations.abs() > activations.abs().median()
    loss = ((g - subnets.expand(activations * mask, "out", chunk)) ** 2).sum()
    loss.backward()
    return activations.detach(), [p.grad.clone() for p in subnets.parameters()]


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_factored_maps_equal_dense_maps_with_their_gradients(chunk):
    subnets = Subnetworks(SHAPES, 5, ranks=2, seed=1)
    g = torch.randn(7, subnets.n_params, generator=torch.Generator().manual_seed(0))
    dense_acts, dense_grads = _gradients_of(subnets, g, 0)
    chunk_acts, chunk_grads = _gradients_of(subnets, g, chunk)
    torch.testing.assert_close(chunk_acts, dense_acts)
    assert max(x.abs().max() for x in dense_grads) > 1e-3  # not vacuous
    for a, b in zip(chunk_grads, dense_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    subnets.renormalise(chunk)
    torch.testing.assert_close(subnets.norms("out", chunk), torch.ones(5))


def test_saved_factors_reload_and_grow_with_the_rank(tmp_path):
    subnets = Subnetworks(SHAPES, 4, ranks=2, seed=3)
    path = save_subnetworks(tmp_path / "s.safetensors", subnets)
    loaded = load_subnetworks(path)
    torch.testing.assert_close(loaded.dense("out"), subnets.dense("out"))
    torch.testing.assert_close(loaded.dense("in"), subnets.dense("in"))
    big = {"w": (300, 200)}
    stored = [Subnetworks(big, 10, ranks=r).n_factor_values() for r in (1, 2, 4)]
    dense = 2 * 10 * 300 * 200
    assert stored[0] < stored[1] < stored[2] < dense / 20
    assert stored == [2 * 10 * (r * r + 500 * r) for r in (1, 2, 4)]


def test_direction_is_one_row_by_name():
    subnets = Subnetworks(SHAPES, 3, ranks=1, seed=0)
    flat = subnets.dense("out")[2]
    direction = subnets.direction(2)
    torch.testing.assert_close(torch.cat([direction[n].flatten() for n in SHAPES]), flat)
