"""Reports of real runs on the built-in micro-Pythia open offline in Chromium: a small sweep over
its first and last checkpoints with every sweep analysis, and one ``eap`` run (issue 15's
acceptance; the pages are the ones ``mechcirc sweep`` and ``mechcirc eap`` write by default).

Kept cheap: 8 prompt pairs, 2 integration steps, two checkpoints of a 4-layer model.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mechcirc.cli import main
from mechcirc.models.micro_spec import load_spec

from .browser import browser_page
from .test_report_browser import assert_clean_and_drawn, check_consistency_section, shown_edges

pytestmark = pytest.mark.slow

ANALYSES = "behaviour,eap,heads,ioi-components"
SMALL = ["--n", "8", "--ig-steps", "2", "--batch-size", "8"]


def test_micro_pythia_sweep_and_eap_run_reports_in_chromium(micro_hub, tmp_path):
    revisions = load_spec().revisions()
    first, last = revisions[0], revisions[-1]
    sweep, run = tmp_path / "sweep", tmp_path / "run"
    argv = ["sweep", "--models", "micro-pythia", "--revisions", f"{first},{last}"]
    argv += ["--tasks", "ioi", "--analyses", ANALYSES, *SMALL, "--threads", "1"]
    assert main([*argv, "--out", str(sweep)]) == 0
    argv = ["eap", "--model", "micro-pythia", "--revision", last, "--task", "ioi", *SMALL]
    assert main([*argv, "--out", str(run)]) == 0

    figures = {path.name for path in (sweep / "figures").iterdir()}
    for name in ("ioi_consistency", "direct_effect_micro-pythia", "behaviour"):
        assert {f"{name}.png", f"{name}.svg"} <= figures
    n_scores = pd.read_parquet(sweep / "heads.parquet")["score"].nunique()
    with browser_page(sweep / "report.html") as session:
        session.page.screenshot(path=tmp_path / "sweep.png", full_page=True)
        # 5 training charts (one task), 3 consistency panels, the circuit, a heatmap per head
        # score, the head history
        assert_clean_and_drawn(session, expected_charts=5 + 3 + 1 + n_scores + 1)
        check_consistency_section(session.page, sweep, "micro-pythia", rows=2)
        assert session.page.locator("#attention canvas").count() >= 1
        assert shown_edges(session.page, "#sweep-circuit .circuit-plot")  # the final circuit
    with browser_page(run / "report.html") as session:
        session.page.screenshot(path=tmp_path / "run.png", full_page=True)
        assert_clean_and_drawn(session, expected_charts=2)
        n_edges = json.loads((run / "faithfulness.json").read_text())["n_edges"]
        assert len(shown_edges(session.page, "#circuit .circuit-plot")) == min(n_edges, 30) > 0
