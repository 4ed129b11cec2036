"""``mechcirc heads`` and ``mechcirc path-patch`` against the offline hub's tiny pythia-160m."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safetensors.torch import load_file

from mechcirc.cli import main


def test_heads_writes_table_heatmaps_and_manifest(offline_env, tmp_path, capsys):
    out = tmp_path / "heads"
    code = main(
        [
            "heads", "--model", "pythia-160m", "--revision", "step1000",
            "--scores", "induction,copy,name_mover", "--seq-len", "5", "--n-sequences", "4",
            "--ioi-prompts", "6", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    table = pd.read_parquet(out / "head_scores.parquet")
    csv = pd.read_csv(out / "head_scores.csv")
    names = ["induction", "copy", "name_mover", "nm_attn_io", "nm_attn_s", "nm_copy"]
    assert list(table.columns) == ["layer", "head", *names]
    assert len(table) == len(csv)
    tensors = load_file(out / "head_scores.safetensors")
    assert tensors["induction"].flatten().tolist() == pytest.approx(table["induction"].tolist())
    inputs = load_file(out / "head_scores_inputs.safetensors")
    assert inputs["induction.tokens"].shape == (4, 10)
    for name in names:
        assert (out / "heatmaps" / f"{name}.png").is_file()
        assert (out / "heatmaps" / f"{name}.svg").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["seed"] == 0
    assert manifest["model"]["revision"] == "step1000"
    assert manifest["config"]["scores"] == ["induction", "copy", "name_mover"]
    assert set(manifest["metrics"]["top_heads"]) == set(names)
    assert "induction" in capsys.readouterr().out


def test_heads_with_a_relative_out_writes_config_beside_the_tables(
    offline_env, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "heads", "--model", "pythia-160m", "--revision", "step1000",
            "--scores", "induction,copy", "--seq-len", "5", "--n-sequences", "4", "--out", "rel",
        ]
    )  # fmt: skip
    assert code == 0
    out = tmp_path / "rel"
    configs = json.loads((out / "head_scores_config.json").read_text())
    assert set(configs) == {"induction", "copy"}
    assert not list((out / "heatmaps").glob("*_config.json"))
    outputs = json.loads((out / "manifest.json").read_text())["outputs"]
    assert "head_scores_config.json" in outputs
    assert "heatmaps/induction.png" in outputs
    assert all(not name.startswith(("/", "rel/")) for name in outputs)


def test_heads_rejects_an_unknown_score_before_loading(tmp_path, capsys):
    code = main(["heads", "--model", "nonexistent-model", "--scores", "induction,magic"])
    assert code == 2
    assert "unknown head score" in capsys.readouterr().err


def test_path_patch_to_name_mover_queries(offline_env, tmp_path, capsys):
    out = tmp_path / "pp"
    code = main(
        [
            "path-patch", "--model", "pythia-160m", "--n", "6", "--name-movers", "a1.h0,a1.h2",
            "--senders", "a0.h0,a0.h3", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    frame = pd.read_parquet(out / "path_patch.parquet")
    assert frame["sender"].tolist() == ["a0.h0", "a0.h3"]
    grid = load_file(out / "path_patch.safetensors")["effect"]
    assert grid[0, 0] == pytest.approx(frame["effect"][0], abs=1e-6)
    assert grid[1].isnan().all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["receivers"] == ["a1.h0<q>", "a1.h2<q>"]
    assert (out / "path_patch_effect.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --receivers or --name-movers"),
        (["--receivers", "a0.h0<q>"], "no sender heads upstream"),
        (["--receivers", "a1.h0<q>", "--senders", "a2.h0"], "not upstream"),
        (["--receivers", "a1.h9<q>"], "unknown destination node"),
    ],
)
def test_path_patch_usage_errors(offline_env, tmp_path, capsys, extra, message):
    argv = ["path-patch", "--model", "pythia-160m", "--n", "2", "--out", str(tmp_path / "x")]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err
