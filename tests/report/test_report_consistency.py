"""The sweep page's "IOI algorithm consistency" section, checked against the sweep's
``ioi_consistency`` and ``components`` tables (no browser)."""

from __future__ import annotations

import pandas as pd
import pytest

from mechcirc.report import sweep_report_data, write_sweep_report
from mechcirc.report.consistency import PANELS, role_rows

from .conftest import MICRO
from .synthetic_sweep import PLANTED_ROLES, SweepSpec, write_synthetic_sweep


def test_each_panel_draws_every_models_shares_over_training(micro_sweep):
    data = sweep_report_data(micro_sweep)
    table = pd.read_parquet(micro_sweep / "ioi_consistency.parquet")
    section = data["consistency"]
    assert section["charts"] == [f"consistency-{role}" for role in PANELS]
    for role, (_, parts) in PANELS.items():
        traces = {t["name"]: t for t in data["figures"][f"consistency-{role}"]["data"]}
        for model in MICRO.models:
            for name, dash in zip((role, *parts), ("solid", "dash", "dot"), strict=False):
                label = model if name == role else f"{model} {name}"
                rows = table[(table.model == model) & (table.role == name) & (table.tokens > 0)]
                rows = rows.sort_values("step")
                assert traces[label]["x"] == rows["tokens"].tolist()
                assert traces[label]["y"] == pytest.approx(rows["share"].tolist(), rel=1e-3)
                assert traces[label]["line"]["dash"] == dash


def test_the_table_names_each_checkpoints_role_heads(micro_sweep):
    components = pd.read_parquet(micro_sweep / "components.parquet")
    rows = role_rows(components, "micro-b")  # 3 layers: planted heads in layers 2 and 1
    assert [row[2] for row in rows] == list(MICRO.steps)
    first, last = rows[0], rows[-1]
    # at the end every planted role is held; at the first checkpoint (progress 1/6) none is
    assert last[3:9] == ["a2.h0", "a2.h1", "–", "a1.h2", "a1.h3", "–"]
    assert first[3:9] == ["–"] * 6
    # the strongest direct effect at the end is the planted name mover's -0.6
    assert last[9] == f"a2.h0 ({PLANTED_ROLES['name_mover'][2]:.3g})" == "a2.h0 (-0.6)"


def test_the_section_is_on_the_page_only_when_the_sweep_has_the_table(micro_sweep, tmp_path):
    page = write_sweep_report(micro_sweep, tmp_path / "with.html").read_text()
    assert page.count('id="ioi-consistency"') == 1
    assert page.count('class="role-heads"') == 1
    spec = SweepSpec(models={"m": (2, 4)}, steps=(0, 512, 1000), components=False)
    bare = write_synthetic_sweep(tmp_path / "bare", spec)
    data = sweep_report_data(bare)
    assert data["consistency"] is None
    assert not any(chart.startswith("consistency-") for chart in data["figures"])
    assert "components" not in data["missing"] and "ioi_consistency" not in data["missing"]
    page = write_sweep_report(bare, tmp_path / "without.html").read_text()
    assert "ioi-consistency" not in page and "IOI algorithm consistency" not in page
