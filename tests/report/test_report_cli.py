"""``mechcirc report`` and the report ``mechcirc eap`` writes into its run folder."""

from __future__ import annotations

import json

import pytest

from mechcirc.cli import main

EAP_ARGS = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--n", "4"]


def test_report_command_writes_either_kind(micro_sweep, large_run, tmp_path, capsys):
    assert main(["report", str(micro_sweep)]) == 0
    assert (micro_sweep / "report.html").is_file()
    assert "sweep report written to" in capsys.readouterr().out
    out = tmp_path / "pages" / "run.html"
    assert main(["report", str(large_run), "--out", str(out), "--max-edges", "10"]) == 0
    assert out.is_file() and "run report written to" in capsys.readouterr().out
    assert main(["report", str(micro_sweep)]) == 0  # the folder's own page is rewritten


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{empty}"], "neither a sweep folder"),
        (["report", "{empty}/missing"], "is not a folder"),
        (["report", "{run}", "--out", "{empty}/page.txt"], "--out must name an .html file"),
        (["report", "{run}", "--out", "{existing}"], "exists: choose a new file"),
    ],
)
def test_report_command_refuses_bad_input(large_run, tmp_path, capsys, args, message):
    existing = tmp_path / "old.html"
    existing.write_text("kept")
    places = {"empty": tmp_path, "run": large_run, "existing": existing}
    assert main([a.format(**places) for a in args]) == 2
    assert message in capsys.readouterr().err
    assert existing.read_text() == "kept"


@pytest.mark.slow
def test_eap_writes_its_report_unless_told_not_to(offline_env, tmp_path):
    with_report, without = tmp_path / "with", tmp_path / "without"
    assert main([*EAP_ARGS, "--method", "eap", "--greedy", "12", "--out", str(with_report)]) == 0
    args = [*EAP_ARGS, "--method", "eap", "--greedy", "12", "--no-report"]
    assert main([*args, "--out", str(without)]) == 0
    manifest = json.loads((with_report / "manifest.json").read_text())
    assert "report.html" in manifest["outputs"] and (with_report / "report.html").is_file()
    page = (with_report / "report.html").read_text()
    assert "EAP circuit: pythia-160m@step143000, task ioi" in page
    manifest = json.loads((without / "manifest.json").read_text())
    assert "report.html" not in manifest["outputs"] and not (without / "report.html").exists()
