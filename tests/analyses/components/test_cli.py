"""``mechcirc components ioi`` writes the sweep's tables, and reruns from its manifest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mechcirc.analyses.components import EFFECT_COLUMNS, SCORE_COLUMNS, SHARE_ROLES
from mechcirc.cli import main

pytestmark = pytest.mark.slow  # loads a model through the CLI


def test_components_ioi_writes_tables_and_reruns(offline_env, tmp_path, capsys):
    out, again = tmp_path / "c", tmp_path / "c2"
    argv = ["components", "ioi", "--model", "pythia-160m", "--revision", "step1000",
            "--preset", "quick", "--n", "6", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    frame = pd.read_parquet(out / "components.parquet")
    assert list(frame.columns) == ["layer", "head", "role", *SCORE_COLUMNS, *EFFECT_COLUMNS]
    shares = pd.read_parquet(out / "ioi_consistency.parquet")
    assert shares["role"].tolist() == list(SHARE_ROLES)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["config"]["n_prompts"] == 6
    assert manifest["inputs"]["task"] == {"name": "ioi", "n": 6, "seed": 0}
    assert set(manifest["metrics"]["shares"]) == set(SHARE_ROLES)
    assert "share direct" in capsys.readouterr().out
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    pd.testing.assert_frame_equal(frame, pd.read_parquet(again / "components.parquet"))


def test_components_refuses_bad_flags_before_loading(tmp_path, capsys):
    base = ["components", "ioi", "--model", "nonexistent-model", "--out", str(tmp_path / "x")]
    assert main([*base, "--preset", "slow"]) == 2
    assert "unknown IOIComponentsConfig preset 'slow'" in capsys.readouterr().err
    assert main([*base, "--text", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
