"""The size target: a 28-checkpoint, one-model, two-task sweep of a 12-layer model < 15 MB."""

from __future__ import annotations

import pytest

from mechcirc.report import sweep_report_data, write_sweep_report

from .synthetic_sweep import SweepSpec, write_synthetic_sweep

# Tigges et al.'s 28 "sparse" Pythia checkpoints
SPARSE_STEPS = (
    256, 512, *range(1000, 10_000, 1000), *range(10_000, 50_000, 5000),
    *range(50_000, 100_000, 10_000), 100_000, 120_000, 140_000, 143_000,
)  # fmt: skip
PAPER_SCALE = SweepSpec(models={"pythia-160m": (12, 12)}, steps=SPARSE_STEPS, max_circuit=400)


@pytest.mark.slow
def test_28_checkpoint_12_layer_sweep_page_is_under_15_mb(tmp_path):
    assert len(SPARSE_STEPS) == 28
    sweep = write_synthetic_sweep(tmp_path / "sweep", PAPER_SCALE)
    page = write_sweep_report(sweep)
    assert page.stat().st_size < 15e6
    data = sweep_report_data(sweep)
    circuits = data["models"]["pythia-160m"]["circuits"]
    # every checkpoint of both tasks is stored, each with the top 2,000 edges (the circuit's
    # 400 are among them here)
    assert [len(c) for c in circuits.values()] == [28, 28]
    assert all(len(c["e"]) == 2000 for task in circuits.values() for c in task)
