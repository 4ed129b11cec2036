"""The shared figure saver: PNG and SVG from a pyplot-free Figure, no backend switch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from matplotlib.figure import Figure

from mechcirc.views import save_figure


def test_save_figure_writes_each_format_and_keeps_the_figure(tmp_path):
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [1, 0])
    paths = save_figure(fig, tmp_path / "sub" / "line.v2", dpi=50, bbox_inches="tight")
    assert [p.name for p in paths] == ["line.v2.png", "line.v2.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()
    assert save_figure(fig, tmp_path / "only", formats=["png"]) == [tmp_path / "only.png"]
    assert fig.axes  # neither closed nor cleared: a notebook can still show it


def _python(code: str, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


@pytest.mark.slow
def test_importing_the_trainer_does_not_import_matplotlib():
    code = "import sys, mechcirc.training; print('matplotlib' in sys.modules)"
    assert _python(code) == "False"


@pytest.mark.slow
def test_plotting_keeps_the_users_backend(tmp_path):
    code = """
import sys
import matplotlib
matplotlib.use("svg")
import numpy as np
import pandas as pd
from mechcirc.analyses.l3d.plots import plot_intervention_curves
from mechcirc.analyses.training import figures
from mechcirc.views import save_figure, save_heatmap
save_heatmap(np.ones((2, 2)), sys.argv[1] + "/heatmap", title="h")
curves = pd.DataFrame(
    {"subnetwork": 0, "delta": [0.1, 1.0], "active": [1.0, 2.0], "inactive": 0.5, "n_active": 3}
)
plot_intervention_curves(curves, sys.argv[1] + "/curves")
frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
save_figure(figures.series_plot(frame, "x", ["y"], "t"), sys.argv[1] + "/series")
print(matplotlib.get_backend())
"""
    assert _python(code, str(tmp_path)) == "svg"
    assert {p.name for p in tmp_path.iterdir()} == {
        f"{stem}.{fmt}" for stem in ("heatmap", "curves", "series") for fmt in ("png", "svg")
    }
