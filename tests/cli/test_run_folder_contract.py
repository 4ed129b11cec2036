"""Every command that writes a run folder keeps the contract: a finished run says ``done`` and
lists every file it wrote; a failure forced mid-run (the first output write raises) leaves
``status: failed`` with the error's type and message, and the command exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mechcirc.cli import main
from mechcirc.runs import RunFolder

pytestmark = pytest.mark.slow  # each case runs a whole command

MODEL = ["--model", "pythia-160m", "--revision", "step1000"]
L3D_QUICK = ["--toy-steps", "200", "--steps", "20", "--batch-size", "128", "--n-eval", "128",
             "--n-references", "1"]  # fmt: skip
COMMANDS = {
    "eap": ["eap", *MODEL, "--task", "ioi", "--n", "6", "--ig-steps", "2", "--greedy", "10"],
    "heads": ["heads", *MODEL, "--scores", "induction,previous_token", "--n", "6"],
    "path-patch": ["path-patch", *MODEL, "--n", "6", "--name-movers", "a1.h0"],
    "components": ["components", "ioi", *MODEL, "--preset", "quick", "--n", "6"],
    "l3d": ["l3d", "--toy", "tms", *L3D_QUICK],
    "train": ["train", "grokking", "--p", "7", "--steps", "4", "--no-progress"],
    "experiment": ["experiment", "grokking", "--quick", "--steps", "20", "--no-progress"],
    "tasks": ["tasks", "export", "ioi", "--n", "4", "--tokenizer", "pythia"],
}


def argv(command: str, folder: Path) -> list[str]:
    """The command writing its run folder at ``folder`` (tasks export: beside its CSV)."""
    if command == "tasks":
        return [
            *COMMANDS[command],
            "--out",
            str(folder.parent / "pairs.csv"),
            "--run-dir",
            str(folder),
        ]
    return [*COMMANDS[command], "--out", str(folder)]


def written_files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_a_finished_run_is_done_and_lists_every_file(command, offline_env, tmp_path):
    out = tmp_path / command
    assert main(argv(command, out)) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done"
    listed = manifest["outputs"]
    unlisted = [
        name
        for name in written_files(out)
        if not any(name == item or name.startswith(item.rstrip("/") + "/") for item in listed)
    ]
    assert not unlisted


@pytest.mark.parametrize("command", COMMANDS)
def test_a_failure_mid_run_is_recorded_as_failed(
    command, offline_env, tmp_path, monkeypatch, capsys
):
    def broken(self, name):
        raise RuntimeError(f"injected failure writing {name}")

    monkeypatch.setattr(RunFolder, "file", broken)
    out = tmp_path / command
    assert main(argv(command, out)) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"]["type"] == "RuntimeError"
    assert manifest["error"]["message"].startswith("injected failure writing")
    assert "injected failure" in capsys.readouterr().err
