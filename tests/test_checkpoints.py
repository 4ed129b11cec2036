"""One checkpoint format: a resumed optimiser continues bit for bit; bad files are refused."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from mechcirc.checkpoints import load_checkpoint, save_checkpoint
from mechcirc.errors import MechcircError, UsageError


def _model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)


def _steps(model, optimizer, n, start):
    for step in range(start, start + n):
        generator = torch.Generator().manual_seed(step)
        x = torch.randn(8, 3, generator=generator)
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()


def test_resumed_training_is_bit_identical(tmp_path):
    model, optimizer = _model_and_optimizer()
    _steps(model, optimizer, 5, 0)
    path = save_checkpoint(
        tmp_path / "c.safetensors",
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        step=5,
        metadata={"config": {"lr": 1e-2}, "log": [1.5, 2.5]},
        extra={"rng": torch.get_rng_state()},
    )
    _steps(model, optimizer, 5, 5)
    expected = [p.detach().clone() for p in model.parameters()]

    checkpoint = load_checkpoint(path)
    resumed, resumed_optimizer = _model_and_optimizer()
    resumed.load_state_dict(checkpoint.model)
    resumed_optimizer.load_state_dict(checkpoint.optimizer)
    _steps(resumed, resumed_optimizer, 5, checkpoint.step)
    for got, want in zip(resumed.parameters(), expected, strict=True):
        assert torch.equal(got, want)
    assert checkpoint.metadata == {"config": {"lr": 1e-2}, "log": [1.5, 2.5]}
    assert checkpoint.extra["rng"].dtype == torch.uint8 and checkpoint.extra["rng"].numel() > 0
    assert not list(tmp_path.glob(".*partial"))  # written atomically, nothing left behind


def test_without_optimizer_and_bad_files(tmp_path):
    model, _ = _model_and_optimizer()
    path = save_checkpoint(tmp_path / "m.safetensors", model=model.state_dict(), step=0)
    assert load_checkpoint(path).optimizer is None
    with pytest.raises(UsageError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(MechcircError, match="not a mechcirc checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")
    (tmp_path / "torn.safetensors").write_bytes(path.read_bytes()[:50])
    with pytest.raises(MechcircError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "torn.safetensors")
