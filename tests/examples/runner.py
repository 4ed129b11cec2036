"""The one way the tests run the scripts in ``examples/``, and read the numbers they print.

``run_example(name, *argv)`` runs a script in a fresh interpreter (offline, one thread) and
returns its stdout, failing with the script's stderr; ``example_main(name)`` loads a script's
``main`` without running it, for tests that call it in-process; ``number(text, pattern)`` is the
float a regular expression's first group captures in printed text.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["EXAMPLES", "example_main", "number", "run_example"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *argv: str, timeout: int = 900, env: dict | None = None) -> str:
    """stdout of ``python examples/<name> *argv``; fails (with stderr) unless it exits 0."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, f"examples/{name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def example_main(name: str) -> Callable:
    """The ``main`` function ``examples/<name>`` defines (the script itself does not run)."""
    return runpy.run_path(str(EXAMPLES / name))["main"]


def number(text: str, pattern: str) -> float:
    """The float the first group of ``pattern`` captures in ``text`` (fails if absent)."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in:\n{text[-3000:]}"
    return float(match.group(1))
