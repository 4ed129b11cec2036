"""The wheel installs everything under `mechcirc/` and nothing named `tasks` or `analyses`."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {
    "mechcirc": ROOT / "mechcirc",
    "mechcirc.tasks": ROOT / "tasks",
    "mechcirc.analyses": ROOT / "analyses",
}


def _packages_on_disk() -> set[str]:
    found = set()
    for prefix, folder in PACKAGE_DIRS.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            if "__pycache__" not in relative:
                found.add(".".join((prefix, *relative)))
    return found


def test_pyproject_lists_every_package_folder():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    assert listed == _packages_on_disk()


def test_wheel_has_only_mechcirc_at_top_level(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("mechcirc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top <= {"mechcirc", next(t for t in top if t.endswith(".dist-info"))}
    assert "mechcirc/tasks/__init__.py" in names and "mechcirc/analyses/__init__.py" in names
    assert "mechcirc/data/pythia-gpt-neox-20b.tokenizer.json" in names
    # the built-in micro-Pythia's weights and spec, which build-offline expands
    assert "mechcirc/data/micro-pythia/checkpoints.safetensors" in names
    assert "mechcirc/data/micro-pythia/micro-pythia.json" in names


def test_subpackages_import():
    code = "import mechcirc.tasks, mechcirc.analyses; print(mechcirc.tasks.__name__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == "mechcirc.tasks"
