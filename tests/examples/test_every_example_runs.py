"""Every script and notebook in ``examples/`` is run by a test (scripts through the one runner,
notebooks through nbclient), so no example rots unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.runner import EXAMPLES

TESTS = Path(__file__).resolve().parents[1]
SOURCES = {path: path.read_text() for path in TESTS.rglob("test_*.py")}
EXAMPLE_FILES = sorted(path.name for path in EXAMPLES.iterdir() if path.suffix in (".py", ".ipynb"))


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_the_example_is_run_by_a_test(name):
    users = [path for path, text in SOURCES.items() if f'"{name}"' in text]
    assert users, f"no test runs examples/{name}"
    runner = "nbclient" if name.endswith(".ipynb") else "tests.examples.runner"
    assert any(runner in SOURCES[path] for path in users), (name, users)
