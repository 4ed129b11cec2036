"""The layering rule holds on the tree, and the check catches an upward import."""

from __future__ import annotations

import shutil

from tests.layering import PACKAGE_DIRS, ROOT, check


def test_every_import_points_down_the_layers():
    assert [str(v) for v in check()] == []


def _copy_tree(tmp_path):
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path


def test_an_upward_import_is_caught(tmp_path):
    root = _copy_tree(tmp_path)
    runs = root / "mechcirc" / "runs.py"
    runs.write_text(runs.read_text() + "\n\ndef _bad():\n    from mechcirc.cli import main\n")
    tasks = root / "tasks" / "ioi.py"
    tasks.write_text(tasks.read_text() + "\nfrom mechcirc.analyses.eap import attribute\n")
    sideways = root / "analyses" / "heads" / "pipeline.py"
    sideways.write_text(sideways.read_text() + "\nfrom ..eap.attribution import attribute\n")
    found = {(v.module, v.imported) for v in check(root)}
    assert found == {
        ("mechcirc.runs", "mechcirc.cli"),
        ("mechcirc.tasks.ioi", "mechcirc.analyses.eap"),
        ("mechcirc.analyses.heads.pipeline", "mechcirc.analyses.eap.attribution"),
    }
