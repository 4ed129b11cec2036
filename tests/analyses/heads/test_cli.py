"""``mechcirc heads`` and ``mechcirc path-patch`` against the offline hub's tiny pythia-160m."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from safetensors.torch import load_file

from mechcirc.cli import main

pytestmark = pytest.mark.slow  # each loads a model through the CLI


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
    names = ["induction", "copy", "name_mover", "attn_io", "attn_s1", "attn_s2"]
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
    assert manifest["config"]["half_len"] == 5 and manifest["inputs"]["model"]["name"]
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


def test_heads_refuses_a_seq_len_beyond_the_context_before_loading(offline_env, tmp_path, capsys):
    # the offline tiny pythia-160m has a 256-token context: 2 x 200 + 1 positions do not fit
    out = tmp_path / "long"
    argv = ["heads", "--model", "pythia-160m", "--seq-len", "200", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--seq-len 200" in err and "needs 401 positions" in err and "holds 256" in err
    assert not out.exists()  # refused before anything was written


def test_heads_run_reruns_to_the_same_table(offline_env, tmp_path, capsys):
    out, again = tmp_path / "h", tmp_path / "h2"
    argv = ["heads", "--model", "pythia-160m", "--revision", "step1000", "--seq-len", "4",
            "--scores", "induction,successor", "--n-sequences", "3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    first = pd.read_parquet(out / "head_scores.parquet")
    pd.testing.assert_frame_equal(first, pd.read_parquet(again / "head_scores.parquet"))
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["command"] == "heads" and manifest["config"]["scores"] == [
        "induction",
        "successor",
    ]


def test_path_patch_run_reruns_to_the_same_effects(offline_env, tmp_path, capsys):
    out, again = tmp_path / "p", tmp_path / "p2"
    argv = ["path-patch", "--model", "pythia-160m", "--n", "4", "--receivers", "logits",
            "--senders", "a0.h0,a1.h2", "--positions", "end", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    first = pd.read_parquet(out / "path_patch.parquet")
    pd.testing.assert_frame_equal(first, pd.read_parquet(again / "path_patch.parquet"))
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["positions"] == "end" and config["senders"] == ["a0.h0", "a1.h2"]
