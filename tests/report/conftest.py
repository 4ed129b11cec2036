"""Synthetic sweep and run folders for the report tests (written once per module)."""

from __future__ import annotations

import pytest

from mechcirc.graph import GraphLayout

from .synthetic_sweep import SweepSpec, write_synthetic_run, write_synthetic_sweep

MICRO = SweepSpec(
    models={"micro-a": (2, 4), "micro-b": (3, 4)},
    steps=(0, 256, 512, 1000, 2000, 4000),
    max_circuit=60,
)
# A circuit of a few thousand edges: 6 layers x 8 heads has 3,580 edges; 2,000 in the circuit.
LARGE_LAYOUT = GraphLayout(n_layers=6, n_heads=8, n_kv_heads=8, parallel_attn_mlp=True)
LARGE_CIRCUIT = 2000


@pytest.fixture(scope="module")
def micro_sweep(tmp_path_factory):
    return write_synthetic_sweep(tmp_path_factory.mktemp("sweep") / "micro", MICRO)


@pytest.fixture(scope="module")
def large_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "large"
    write_synthetic_run(path, LARGE_LAYOUT, circuit_edges=LARGE_CIRCUIT)
    return path
