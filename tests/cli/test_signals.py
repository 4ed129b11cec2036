"""Real signals to a real ``mechcirc`` process: interrupted runs are marked, killed ones told."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mechcirc.runs import run_status

MECHCIRC = str(Path(sys.executable).with_name("mechcirc"))
pytestmark = pytest.mark.slow


def _start_long_eap(out: Path, env_home: str) -> subprocess.Popen:
    """``mechcirc eap`` with exact patching of many pairs: minutes of work, so it is mid-run."""
    env = {**os.environ, "HF_HOME": env_home, "HF_HUB_OFFLINE": "1"}
    args = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--method", "exact"]
    return subprocess.Popen(
        [MECHCIRC, *args, "--n", "3000", "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_working(out: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if (out / "examples.jsonl").is_file():  # the model loaded and the analysis started
            time.sleep(1.0)
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the run never started")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_runs_are_marked(offline_env, tmp_path, sig, code):
    out = tmp_path / "run"
    process = _start_long_eap(out, offline_env)
    _wait_until_working(out, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert err.strip().splitlines()[-1].startswith("interrupted")
    assert "Traceback" not in err


def test_a_killed_run_is_told_dead_and_its_folder_is_not_reused(offline_env, tmp_path):
    out = tmp_path / "run"
    process = _start_long_eap(out, offline_env)
    _wait_until_working(out, process)
    assert run_status(out).status == "running" and run_status(out).alive
    process.kill()
    process.wait(timeout=60)
    state = run_status(out)
    assert state.status == "running" and state.dead
    before = (out / "manifest.json").read_bytes()
    env = {**os.environ, "HF_HOME": offline_env, "HF_HUB_OFFLINE": "1"}
    again = subprocess.run(
        [MECHCIRC, "eap", "--model", "pythia-160m", "--revision", "step143000", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and "already holds files" in again.stderr
    assert (out / "manifest.json").read_bytes() == before
