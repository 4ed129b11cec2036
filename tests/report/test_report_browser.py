"""The report pages in a real headless Chromium, offline: nothing fetched, no console error,
every chart drawn, the controls show what the folders' tables hold, hovers show scores.

Screenshots land in each test's temp folder (``sweep-*.png``, ``run-*.png``).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from mechcirc.cli import main
from mechcirc.graph import CircuitGraph
from mechcirc.report import write_report

from .browser import browser_page, plot_data, point_position
from .conftest import LARGE_CIRCUIT, MICRO

pytestmark = pytest.mark.slow

DRAWN_CHARTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
    id: el.id || el.closest('[id]').id,
    marks: el.querySelectorAll('.scatterlayer .trace path, .heatmaplayer image').length,
    points: el.data.reduce((n, t) => n + (t.x ? t.x.length : 0) + (t.z ? t.z.length : 0), 0),
}))"""


def assert_clean_and_drawn(session, expected_charts: int) -> None:
    assert session.blocked == [], f"requests left the page: {session.blocked}"
    assert all(url.startswith("file:") for url in session.requests), session.requests
    assert session.errors == []
    charts = session.page.evaluate(DRAWN_CHARTS)
    assert len(charts) >= expected_charts
    empty = [c["id"] for c in charts if not (c["marks"] and c["points"])]
    assert empty == [], f"charts drawn empty: {empty}"


def shown_edges(page, selector: str) -> list[str]:
    (targets,) = [t for t in plot_data(page, selector) if t["name"] == "edge-targets"]
    return targets["customdata"]


def expected_top(edges: pd.DataFrame, k: int) -> list[str]:
    """The ``k`` strongest in-circuit edges, as the page's default view shows them."""
    member = edges[edges["in_circuit"]]
    order = member.assign(m=member["score"].abs()).sort_values("m", ascending=False, kind="stable")
    return order["edge"].tolist()[:k]


def hover_label(page, selector: str) -> str:
    """The text of the hover label shown in the chart ``selector``."""
    page.wait_for_selector(f"{selector} .hoverlayer .hovertext", timeout=5000)
    return page.eval_on_selector(f"{selector} .hoverlayer", "el => el.textContent")


def move_to(page, selector: str, trace: int, index: int) -> None:
    page.locator(selector).scroll_into_view_if_needed()  # the mouse reaches only the viewport
    page.mouse.move(0, 0)
    x, y = point_position(page, selector, trace, index)
    page.mouse.move(x, y)


def check_consistency_section(page, sweep, model: str, rows: int) -> None:
    """The IOI consistency panels draw ``model``'s shares of ``ioi_consistency.parquet`` (the
    points after step 0, on the log token axis) and the role table has ``rows`` rows."""
    table = pd.read_parquet(sweep / "ioi_consistency.parquet")
    for role in ("direct", "s_inhibition", "induction_duplicate"):
        drawn = {t["name"]: t["y"] for t in plot_data(page, f"#consistency-{role}")}
        shares = table[(table.model == model) & (table.role == role) & (table.tokens > 0)]
        expected = shares.sort_values("step")["share"].to_numpy(float)
        np.testing.assert_allclose(drawn[model], expected, rtol=1e-3, atol=1e-9)
    assert page.locator("#ioi-consistency table.role-heads tbody tr").count() == rows


def test_sweep_report_in_chromium(micro_sweep, tmp_path):
    page_path = write_report(micro_sweep, tmp_path / "sweep.html")
    edges = pd.read_parquet(micro_sweep / "edges.parquet")
    heads = pd.read_parquet(micro_sweep / "heads.parquet")
    circuit = "#sweep-circuit .circuit-plot"
    with browser_page(page_path) as session:
        page = session.page
        page.screenshot(path=tmp_path / "sweep-top.png")
        # 10 training charts, 3 IOI consistency panels, the circuit, 2 heatmaps, the history
        assert_clean_and_drawn(session, expected_charts=17)
        check_consistency_section(page, micro_sweep, "micro-a", rows=2 * len(MICRO.steps))
        page.locator("#ioi-consistency").screenshot(path=tmp_path / "sweep-consistency.png")
        assert page.locator("#attention canvas").count() >= 4  # circuitsvis views rendered

        slider = page.locator("#checkpoint-slider")
        seen = []
        for revision in ("step4000", "step512", "step256"):
            while not page.inner_text("#checkpoint-label").startswith(revision + " "):
                slider.focus()
                page.keyboard.press("ArrowLeft")
            rows = edges[
                (edges.model == "micro-a") & (edges.task == "ioi") & (edges.revision == revision)
            ]
            shown = shown_edges(page, circuit)
            assert shown == expected_top(rows, 30), revision
            seen.append(tuple(shown))
            for score, div in (("induction", "#heatmap-0"), ("previous_token", "#heatmap-1")):
                at = heads[(heads.model == "micro-a") & (heads.revision == revision)]
                at = at[at.score == score]
                expected = np.full((2, 4), np.nan)
                expected[at["layer"], at["head"]] = at["value"]
                z = np.asarray(plot_data(page, div)[0]["z"], dtype=float)
                np.testing.assert_allclose(z, expected, rtol=1e-3)
        assert len(set(seen)) == 3  # each checkpoint its own circuit
        marks = page.evaluate(
            "() => Array.from(document.querySelectorAll('#training .js-plotly-plot'))"
            ".map(el => el.layout.shapes.map(s => s.x0))"
        )
        assert marks == [[256 * 2_097_152]] * 10  # the chosen checkpoint, marked once

        # hovering an edge shows its name and score
        targets = plot_data(page, circuit)
        t = next(i for i, trace in enumerate(targets) if trace["name"] == "edge-targets")
        move_to(page, circuit, t, 0)
        name = targets[t]["customdata"][0]
        label = hover_label(page, circuit)
        shown_score = float(re.search(r"score (\S+)", label).group(1))
        assert name in label
        assert shown_score == pytest.approx(float(rows.set_index("edge").score[name]), rel=1e-3)
        page.screenshot(path=tmp_path / "sweep-hover.png")

        # clicking a heatmap cell shows that head's scores over training
        page.locator("#heatmap-0").scroll_into_view_if_needed()
        x, y = page.eval_on_selector(
            "#heatmap-0",
            """el => { const f = el._fullLayout, b = el.getBoundingClientRect();
                return [b.left + f.xaxis._offset + f.xaxis.l2p(2),
                        b.top + f.yaxis._offset + f.yaxis.l2p(1)]; }""",
        )
        page.mouse.click(x, y)
        page.wait_for_function(
            "() => document.querySelector('#head-history').layout.title.text.startsWith('a1.h2')"
        )
        history = plot_data(page, "#head-history")
        head = heads[(heads.model == "micro-a") & (heads.layer == 1) & (heads["head"] == 2)]
        for trace in history:
            curve = head[(head.score == trace["name"]) & (head.tokens > 0)].sort_values("step")
            np.testing.assert_allclose(trace["y"], curve["value"], rtol=1e-3)
        page.screenshot(path=tmp_path / "sweep-explorer.png", full_page=True)
        assert session.errors == [] and session.blocked == []


def test_run_report_of_a_few_thousand_edge_circuit(large_run, tmp_path):
    page_path = write_report(large_run, tmp_path / "run.html")
    graph = CircuitGraph.load_json(large_run / "graph.json")
    circuit_edges = [name for name, _ in graph.in_graph_edges()]  # strongest first
    circuit = "#circuit .circuit-plot"
    with browser_page(page_path) as session:
        page = session.page
        assert_clean_and_drawn(session, expected_charts=2)
        assert shown_edges(page, circuit) == circuit_edges[:30]  # starts small
        page.screenshot(path=tmp_path / "run-small.png")

        # the whole circuit: every edge drawn
        page.eval_on_selector(
            "#circuit .k-range",
            "el => { el.value = el.max; el.dispatchEvent(new Event('input')); }",
        )
        assert sorted(shown_edges(page, circuit)) == sorted(circuit_edges)
        assert len(circuit_edges) == LARGE_CIRCUIT
        page.screenshot(path=tmp_path / "run-full.png")

        # a |score| threshold shows exactly the circuit edges at or above it (the page keeps
        # 4 significant digits: the threshold lies between two stored magnitudes)
        scores = dict(graph.in_graph_edges())
        stored = {n: abs(float(f"{v:.4g}")) for n, v in scores.items()}
        magnitudes = sorted(set(stored.values()))
        threshold = (magnitudes[-200] + magnitudes[-201]) / 2
        page.fill("#circuit .threshold", repr(threshold))
        page.press("#circuit .threshold", "Enter")
        above = {n for n, v in stored.items() if v >= threshold}
        assert set(shown_edges(page, circuit)) == above and 200 <= len(above) < len(scores)

        # the node view merges a node pair's q/k/v edges into one
        page.check("#circuit .merge")
        merged = shown_edges(page, circuit)
        pairs = {(n.split("->")[0], n.split("->")[1].split("<")[0]) for n in above}
        assert len(merged) == len(pairs)
        assert sorted(e for group in merged for e in group.split(",")) == sorted(above)
        page.screenshot(path=tmp_path / "run-node-view.png")

        # hovering a node highlights its edges and dims the others
        traces = plot_data(page, circuit)
        nodes = next(i for i, trace in enumerate(traces) if trace["name"] == "nodes")
        index = traces[nodes]["text"].index("a3.h2") if "a3.h2" in traces[nodes]["text"] else 0
        node = traces[nodes]["text"][index]
        move_to(page, circuit, nodes, index)
        page.wait_for_function(
            f"() => document.querySelector('{circuit}').data.some(t => t.name === 'highlight')"
        )
        lit = [t for t in plot_data(page, circuit) if t["name"] == "highlight"]
        dimmed = [t for t in plot_data(page, circuit) if t["name"] == "edges"]
        incident = [p for p in pairs if node in p]
        assert sum(len(t["x"]) // 3 for t in lit) == len(incident)
        assert dimmed and all(t["opacity"] < 0.1 for t in dimmed)
        assert node in hover_label(page, circuit)
        page.screenshot(path=tmp_path / "run-highlight.png")

        # the edge table sorts by a column
        page.click("#edges-table th:nth-child(4)")  # score, descending
        first = page.inner_text("#edges-table tbody tr:first-child td:nth-child(2)")
        src, dst = divmod(int(graph.scores.argmax()), graph.layout.n_dst)
        assert first == graph.layout.edge_name(src, dst)
        assert session.errors == [] and session.blocked == []


def test_report_of_a_real_eap_run_in_chromium(offline_env, tmp_path):
    out = tmp_path / "run"
    args = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--n", "4"]
    assert main([*args, "--method", "eap", "--greedy", "30", "--out", str(out)]) == 0
    with browser_page(out / "report.html") as session:
        assert_clean_and_drawn(session, expected_charts=2)
        n_edges = json.loads((out / "faithfulness.json").read_text())["n_edges"]
        assert 0 < len(shown_edges(session.page, "#circuit .circuit-plot")) == n_edges <= 30
        prompts = session.page.inner_text("section:has(h2:text('Example prompts')) td")
        assert re.search("[A-Za-z]{3}", prompts)  # decoded text, not token ids
        session.page.screenshot(path=tmp_path / "eap-run.png", full_page=True)
