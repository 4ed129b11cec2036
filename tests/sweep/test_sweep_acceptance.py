"""The issue's acceptance sweep: two Pythia-shaped models of different sizes at six revisions,
behaviour + EAP + heads on IOI and greater-than; every table, figure and file of the contract."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from mechcirc.cli import main
from mechcirc.graph import CircuitGraph
from mechcirc.models.offline_hub import TinyPythiaShape
from mechcirc.sweep import TABLE_COLUMNS, read_tables
from mechcirc.sweep.evolution import EVOLUTION_COLUMNS

from .conftest import REVISIONS, SHAPES, SMALL_FLAGS

pytestmark = pytest.mark.slow

MODELS = ("pythia-70m", "pythia-31m")
TASKS = ("ioi", "greater-than")
SCORES = ("induction", "previous_token", "copy")
FIGURES = ("behaviour", "circuit_size", "faithfulness", "jaccard", "emergence")


@pytest.fixture(scope="module")
def sweep(sweep_hub, tmp_path_factory):
    out = tmp_path_factory.mktemp("acceptance") / "sweep"
    argv = ["sweep", "--models", ",".join(MODELS), "--revisions", ",".join(REVISIONS)]
    argv += ["--tasks", ",".join(TASKS), "--analyses", "behaviour,eap,heads", *SMALL_FLAGS]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def n_edges(shape: TinyPythiaShape) -> int:
    from mechcirc.graph import GraphLayout

    layout = GraphLayout(shape.n_layers, shape.n_heads, shape.n_heads, parallel_attn_mlp=True)
    return layout.n_edges


def test_every_table_has_one_row_per_unit_task_edge_and_head(sweep):
    tables = read_tables(sweep)
    assert set(tables) == {"behaviour", "circuits", "edges", "heads", "evolution"}
    for name in set(tables) & set(TABLE_COLUMNS):  # components: not in this plan's analyses
        columns = TABLE_COLUMNS[name]
        assert list(tables[name].columns[: len(columns)]) == list(columns), name
    assert list(tables["evolution"].columns) == list(EVOLUTION_COLUMNS)
    units = {(m, r) for m in MODELS for r in REVISIONS}
    for name in ("behaviour", "circuits"):
        keys = tables[name][["model", "revision", "task"]].apply(tuple, axis=1)
        assert sorted(keys) == sorted((m, r, t) for m, r in units for t in TASKS), name
    edges = tables["edges"]
    assert not edges.duplicated(["model", "revision", "task", "edge"]).any()
    per_unit = edges.groupby(["model", "revision", "task"]).size()
    assert len(per_unit) == len(units) * len(TASKS)
    for (model, _, _), count in per_unit.items():  # fewer than 2,000 edges: every edge is kept
        assert count == n_edges(SHAPES[model])
    heads = tables["heads"]
    assert not heads.duplicated(["model", "revision", "layer", "head", "score"]).any()
    for model in MODELS:
        shape = SHAPES[model]
        expected = len(REVISIONS) * shape.n_layers * shape.n_heads * len(SCORES)
        assert (heads["model"] == model).sum() == expected
    assert len(tables["evolution"]) == len(units) * len(TASKS)
    steps = tables["behaviour"].drop_duplicates("revision").set_index("revision")
    assert steps.loc["step2000", "step"] == 2000
    assert steps.loc["step2000", "tokens"] == 2000 * 2_097_152
    assert tables["edges"]["score"].dtype == "float32"


def test_the_tables_load_in_pandas_polars_and_duckdb(sweep):
    for name in ("behaviour", "circuits", "edges", "heads", "evolution"):
        path = sweep / f"{name}.parquet"
        frame = pd.read_parquet(path)
        assert pl.read_parquet(path).shape == frame.shape
        ((count,),) = duckdb.sql(f"select count(*) from '{path}'").fetchall()
        assert count == len(frame)
    query = f"""
        select model, task, count(*) as checkpoints, max(accuracy) as best
        from '{sweep}/behaviour.parquet' group by model, task order by model, task
    """
    rows = duckdb.sql(query).fetchall()
    assert [(m, t, n) for m, t, n, _ in rows] == [
        (m, t, len(REVISIONS)) for m in sorted(MODELS) for t in sorted(TASKS)
    ]


def test_every_figure_is_written_as_png_and_svg(sweep):
    names = [*FIGURES, *(f"head_curves_{model}" for model in MODELS)]
    for name in names:
        for suffix in ("png", "svg"):
            path = sweep / "figures" / f"{name}.{suffix}"
            assert path.is_file() and path.stat().st_size > 1000, path


def test_sweep_json_and_attention_follow_the_contract(sweep):
    state = json.loads((sweep / "sweep.json").read_text())
    assert state["format"] == "mechcirc-sweep" and state["format_version"] == 1
    assert state["status"] == {"done": 12, "failed": 0, "pending": 0, "running": 0}
    plan = state["plan"]
    assert plan["models"] == list(MODELS) and plan["revisions"]["pythia-31m"] == list(REVISIONS)
    assert (plan["n"], plan["seed"], plan["ig_steps"]) == (6, 0, 2)
    assert {"python", "torch", "mechcirc"} <= set(state["versions"])
    assert {u["status"] for u in state["units"]} == {"done"} and len(state["units"]) == 12
    for task in TASKS:
        assert (sweep / "pairs" / f"{task}.jsonl").is_file()
    attention = json.loads((sweep / "attention.json").read_text())
    assert sorted((e["model"], e["task"]) for e in attention) == sorted(
        (m, t) for m in MODELS for t in TASKS
    )
    for entry in attention:
        assert entry["revision"] == "step143000" and 1 <= len(entry["heads"]) <= 6
        assert 1 <= len(entry["prompts"]) <= 4
        for prompt in entry["prompts"]:
            patterns = torch.tensor(prompt["patterns"])
            n = len(prompt["tokens"])
            assert patterns.shape == (len(entry["heads"]), n, n)
            torch.testing.assert_close(patterns.sum(-1), torch.ones(len(entry["heads"]), n))


def test_every_unit_saw_identical_prompts(sweep):
    for task in TASKS:
        stored = (sweep / "pairs" / f"{task}.jsonl").read_text()
        for model in MODELS:
            for revision in REVISIONS:
                unit = sweep / "units" / model / revision / "eap" / task / "examples.jsonl"
                assert unit.read_text() == stored


def test_a_unit_equals_a_mechcirc_eap_run(sweep, tmp_path):
    out = tmp_path / "eap"
    argv = ["eap", "--model", "pythia-31m", "--revision", "step1000", "--task", "greater-than"]
    argv += ["--n", "6", "--seed", "0", "--ig-steps", "2", "--batch-size", "6"]
    assert main([*argv, "--criterion", "fraction-of-clean", "--out", str(out)]) == 0
    unit = sweep / "units" / "pythia-31m" / "step1000" / "eap" / "greater-than"
    direct, swept = load_file(out / "scores.safetensors"), load_file(unit / "scores.safetensors")
    assert torch.equal(direct["scores"], swept["scores"])
    assert torch.equal(direct["in_graph"], swept["in_graph"])
    manifests = [json.loads((p / "manifest.json").read_text()) for p in (out, unit)]
    assert manifests[0]["config"] == manifests[1]["config"]
    assert manifests[0]["inputs"] == manifests[1]["inputs"]
    graph = CircuitGraph.load_safetensors(unit / "scores.safetensors")
    edges = read_tables(sweep)["edges"]
    rows = edges[(edges["model"] == "pythia-31m") & (edges["revision"] == "step1000")]
    rows = rows[rows["task"] == "greater-than"].set_index("edge")
    for name in rows.index[:20]:
        assert rows.loc[name, "score"] == graph.scores[graph.layout.parse_edge(name)].item()


def test_status_and_collect_commands(sweep, capsys):
    before = {p.name: p.read_bytes() for p in sweep.glob("*.parquet")}
    assert main(["sweep", "collect", str(sweep)]) == 0
    assert {p.name: p.read_bytes() for p in sweep.glob("*.parquet")} == before
    assert "edges.parquet: " in capsys.readouterr().out
    assert main(["sweep", "status", str(sweep)]) == 0
    assert "12 done, 0 failed, 0 pending, 0 running" in capsys.readouterr().out
