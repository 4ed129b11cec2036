"""The ``ioi-components`` sweep analysis: each unit holds what ``run_ioi_components`` finds on
that checkpoint with the unit's own EAP circuit, collected into one row per head and role."""

from __future__ import annotations

import pandas as pd
import pytest

from mechcirc import load_model, tasks
from mechcirc.analyses.components import run_ioi_components
from mechcirc.cli import main
from mechcirc.graph import CircuitGraph
from mechcirc.sweep import read_tables
from mechcirc.sweep.components_step import components_config

from .conftest import SMALL_FLAGS, small_plan

pytestmark = pytest.mark.slow

REVISIONS = ("step0", "step143000")


@pytest.fixture(scope="module")
def sweep(sweep_hub, tmp_path_factory):
    out = tmp_path_factory.mktemp("components") / "sweep"
    argv = ["sweep", "--models", "pythia-70m", "--revisions", ",".join(REVISIONS)]
    argv += ["--tasks", "ioi", "--analyses", "behaviour,eap,ioi-components", *SMALL_FLAGS]
    assert main([*argv, "--no-report", "--out", str(out)]) == 0
    return out


def test_a_unit_holds_what_the_pipeline_finds_with_the_units_circuit(sweep):
    table = read_tables(sweep)["components"]
    rows = table[table["revision"] == "step143000"].reset_index(drop=True)
    unit = sweep / "units" / "pythia-70m" / "step143000"
    graph = CircuitGraph.load_json(unit / "eap" / "ioi" / "graph.json")
    edges = [name for name, _ in graph.in_graph_edges()]
    model = load_model("pythia-70m", revision="step143000")
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=6, seed=0)
    config = components_config(small_plan(revisions="step143000"))
    expected = run_ioi_components(model, pairs, config, circuit_edges=edges).components_frame()
    assert len(rows) == model.cfg.n_layers * model.cfg.n_heads
    columns = [c for c in expected.columns if c in rows.columns]
    assert {"layer", "head", "role", "direct_effect", "attn_io"} <= set(columns)
    pd.testing.assert_frame_equal(
        rows[columns], expected[columns], check_dtype=False, check_exact=False, atol=1e-6
    )


def test_every_unit_has_a_share_per_role(sweep):
    consistency = read_tables(sweep)["ioi_consistency"]
    per_unit = consistency.groupby("revision")["role"].apply(list)
    assert set(per_unit.index) == set(REVISIONS)
    assert per_unit["step0"] == per_unit["step143000"] and len(set(per_unit["step0"])) >= 6


def test_the_analysis_needs_the_ioi_task(sweep_hub, tmp_path, capsys):
    argv = ["sweep", "--models", "pythia-70m", "--revisions", "step0", "--tasks", "greater-than"]
    argv += ["--analyses", "ioi-components", *SMALL_FLAGS, "--out", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "needs the ioi task" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
