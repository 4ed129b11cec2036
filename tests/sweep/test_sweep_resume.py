"""Nothing lost: a failed unit is recorded and retried, a SIGKILLed sweep resumes to the same
tables without recomputing done units, and --delete-downloaded deletes only what it fetched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mechcirc.cli import main
from mechcirc.models.offline_hub import build_offline_hub
from mechcirc.sweep import SweepOptions, read_tables, run_sweep
from mechcirc.sweep import models as sweep_models

from .conftest import REVISIONS, SHAPES, SMALL_FLAGS, small_plan

pytestmark = pytest.mark.slow

MECHCIRC = str(Path(sys.executable).with_name("mechcirc"))


def unit_manifest(out: Path, model: str, revision: str) -> dict:
    return json.loads((out / "units" / model / revision / "manifest.json").read_text())


def test_a_failed_unit_is_recorded_the_sweep_goes_on_and_retry_redoes_it(
    sweep_hub, tmp_path, capsys
):
    out = tmp_path / "sweep"
    # step3000 is on Pythia's schedule (so the plan is valid) but not in the cache
    argv = ["sweep", "--models", "pythia-70m", "--revisions", "step0,step3000,step143000"]
    argv += ["--analyses", "behaviour", *SMALL_FLAGS, "--out", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "1 of 3 units failed" in captured.err
    assert "failed pythia-70m@step3000: ModelLoadError" in captured.out
    state = json.loads((out / "sweep.json").read_text())
    assert state["status"] == {"done": 2, "failed": 1, "pending": 0, "running": 0}
    failed = next(u for u in state["units"] if u["status"] == "failed")
    assert failed["revision"] == "step3000" and "step3000" in failed["error"]["message"]
    assert read_tables(out)["behaviour"]["revision"].tolist() == ["step0", "step143000"]
    done_at = unit_manifest(out, "pythia-70m", "step0")["finished_at"]

    build_offline_hub(sweep_hub, "pythia-70m", ["step3000"], shape=SHAPES["pythia-70m"])
    assert main(argv) == 1  # failed units are skipped unless retried
    assert "1 of 3 units failed" in capsys.readouterr().err
    assert main([*argv, "--retry-failed"]) == 0
    assert "3 done, 0 failed, 0 pending, 0 running (1 run now)" in capsys.readouterr().out
    assert read_tables(out)["behaviour"]["revision"].tolist() == ["step0", "step3000", "step143000"]
    assert unit_manifest(out, "pythia-70m", "step0")["finished_at"] == done_at


def _done_units(out: Path) -> list[Path]:
    found = []
    for manifest in (out / "units").glob("*/*/manifest.json"):
        if json.loads(manifest.read_text() or "{}").get("status") == "done":
            found.append(manifest.parent)
    return found


def test_sigkill_at_any_moment_then_rerun_gives_the_uninterrupted_tables(sweep_hub, tmp_path):
    argv = ["sweep", "--models", "pythia-70m", "--revisions", ",".join(REVISIONS)]
    argv += ["--tasks", "ioi", *SMALL_FLAGS]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    env = {**os.environ, "HF_HOME": sweep_hub, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [MECHCIRC, *argv, "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while len(_done_units(killed)) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the sweep did not finish two units in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = {path: (path / "manifest.json").read_bytes() for path in _done_units(killed)}
    assert 2 <= len(done_before) < len(REVISIONS)

    result = subprocess.run(
        [MECHCIRC, *argv, "--out", str(killed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    remaining = len(REVISIONS) - len(done_before)
    assert f"{len(REVISIONS)} done, 0 failed, 0 pending, 0 running ({remaining} run now)" in (
        result.stdout
    )
    for path, manifest in done_before.items():  # no done unit was recomputed
        assert (path / "manifest.json").read_bytes() == manifest
    assert main([*argv, "--out", str(reference)]) == 0
    expected, found = read_tables(reference), read_tables(killed)
    assert set(found) == set(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(found[name], frame, check_exact=True, obj=name)
        assert (killed / f"{name}.parquet").read_bytes() == (
            reference / f"{name}.parquet"
        ).read_bytes()


def _snapshot(home: str, model: str, revision: str) -> Path:
    from mechcirc.models.offline_hub import fake_commit_hash

    model_id = f"EleutherAI/{model}"
    repo = Path(home) / "hub" / f"models--EleutherAI--{model}"
    return repo / "snapshots" / fake_commit_hash(model_id, revision)


def test_delete_downloaded_deletes_only_the_revisions_the_sweep_fetched(
    sweep_hub, tmp_path, monkeypatch
):
    model, shape = "pythia-14m", SHAPES["pythia-70m"]
    build_offline_hub(sweep_hub, model, ["step0", "step512"], shape=shape)
    real_loader = sweep_models.load_unit_model

    def fetching_loader(slot, spec):
        # what a hub download does: the revision appears in the cache as the unit loads it
        build_offline_hub(sweep_hub, model, [spec.revision], shape=shape)
        return real_loader(slot, spec)

    monkeypatch.setattr(sweep_models, "load_unit_model", fetching_loader)
    plan = small_plan(
        models=(model,), revisions="step0,step512,step1000,step2000", analyses=("behaviour",)
    )
    result = run_sweep(
        plan, tmp_path / "sweep", SweepOptions(delete_downloaded=True), progress=False
    )
    assert result.status["done"] == 4
    for revision in ("step0", "step512"):  # in the cache before the sweep: kept
        assert (_snapshot(sweep_hub, model, revision) / "model.safetensors").is_file()
    for revision in ("step1000", "step2000"):  # fetched by the sweep: deleted after their unit
        assert not _snapshot(sweep_hub, model, revision).exists()
        assert not (
            Path(sweep_hub) / "hub" / f"models--EleutherAI--{model}" / "refs" / revision
        ).exists()
        downloaded = unit_manifest(tmp_path / "sweep", model, revision)["downloaded"]
        assert downloaded is True
    assert unit_manifest(tmp_path / "sweep", model, "step0")["downloaded"] is False
    assert len(read_tables(tmp_path / "sweep")["behaviour"]) == 4
    refs = Path(sweep_hub) / "hub" / f"models--EleutherAI--{model}" / "refs"
    assert (refs / "step0").is_file() and (refs / "step512").is_file()
