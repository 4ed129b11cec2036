"""The sweep page's "IOI algorithm consistency" section (Tigges et al. 2024, Fig. 4 B-D): the
share of the model's IOI performance each component class carries over training, one line per
model, and each checkpoint's role heads.

Reads ``ioi_consistency.parquet`` (model, revision, step, tokens, role, share, n_heads) and
``components.parquet`` (one row per head and role, with its ``direct_effect``) as the
``ioi-components`` sweep analysis writes them; the section is left out when the sweep has no
consistency table.

Example:
    >>> sweep = read_sweep("sweeps/micro")  # doctest: +SKIP
    >>> section = consistency_data(sweep, sweep.models)  # doctest: +SKIP
    >>> section["charts"]  # doctest: +SKIP
    ['consistency-direct', 'consistency-s_inhibition', 'consistency-induction_duplicate']
"""

from __future__ import annotations

import html

import pandas as pd

from mechcirc.report.charts import PALETTE, Series, line_figure
from mechcirc.report.page import html_table
from mechcirc.report.sweep_folder import Sweep

__all__ = ["PANELS", "ROLE_COLUMNS", "consistency_data", "consistency_section"]

# Fig. 4's panels: the class drawn solid, and its parts drawn dashed (roles of the tables).
PANELS = {
    "direct": ("B: name movers + neg. NMs + copy supp.", (
        "name_mover", "negative_name_mover", "copy_suppression")),
    "s_inhibition": ("C: S-inhibition (into NM queries)", ()),
    "induction_duplicate": ("D: induction + duplicate (into S-inh. values)", (
        "induction", "duplicate_token")),
}  # fmt: skip
ROLE_COLUMNS = {
    "name_mover": "name movers",
    "negative_name_mover": "negative NMs",
    "copy_suppression": "copy suppression",
    "s_inhibition": "S-inhibition",
    "induction": "induction",
    "duplicate_token": "duplicate-token",
}
DASHES = ("dash", "dot", "dashdot")


def _panel(consistency: pd.DataFrame, models: list[str], role: str) -> dict:
    title, parts = PANELS[role]
    series = []
    for m, model in enumerate(models):
        own = consistency[consistency["model"] == model]
        for dash, name in zip(("solid", *DASHES), (role, *parts), strict=False):
            rows = own[own["role"] == name].sort_values("step")
            if rows.empty:
                continue
            label = model if name == role else f"{model} {name}"
            hover = [f"{name}: {n} head(s)" for n in rows["n_heads"]]
            series.append(
                Series(label, rows["tokens"].tolist(), rows["share"].astype(float).tolist(),
                       PALETTE[m % len(PALETTE)], dash, hover=hover)
            )  # fmt: skip
    return line_figure(title, series, y_title="% of IOI performance", hlines=(0.0,))


def _head_names(rows: pd.DataFrame) -> str:
    heads = sorted(zip(rows["layer"].astype(int), rows["head"].astype(int), strict=True))
    return ", ".join(f"a{layer}.h{head}" for layer, head in heads) or "–"


def role_rows(components: pd.DataFrame, model: str) -> list[list[object]]:
    """One row per checkpoint of ``model``: revision, step, the heads of each role of
    :data:`ROLE_COLUMNS`, and the head with the largest |direct effect| with that effect."""
    own = components[components["model"] == model]
    rows = []
    for (step, revision), at in own.groupby(["step", "revision"], sort=True):
        heads = [_head_names(at[at["role"] == role]) for role in ROLE_COLUMNS]
        effects = at.drop_duplicates(["layer", "head"]).dropna(subset=["direct_effect"])
        strongest = "–"
        if len(effects):
            top = effects.loc[effects["direct_effect"].abs().idxmax()]
            strongest = f"a{int(top['layer'])}.h{int(top['head'])} ({top['direct_effect']:.3g})"
        rows.append([model, str(revision), int(step), *heads, strongest])
    return rows


def consistency_data(sweep: Sweep, models: list[str]) -> dict | None:
    """The section's chart specs (by element id, in page order) and its table; None when the
    sweep has no consistency rows."""
    consistency = sweep.tables["ioi_consistency"]
    if consistency.empty:
        return None
    shown = [m for m in models if m in set(consistency["model"])]
    shown += sorted(set(consistency["model"].astype(str)) - set(shown))
    figures = {f"consistency-{role}": _panel(consistency, shown, role) for role in PANELS}
    components = sweep.tables["components"]
    rows = [row for model in shown for row in role_rows(components, model)]
    columns = ["model", "revision", "step", *ROLE_COLUMNS.values(), "largest |direct effect|"]
    return {"figures": figures, "charts": list(figures), "columns": columns, "rows": rows}


def consistency_section(section: dict | None) -> str:
    """The section's markup (empty without data)."""
    if section is None:
        return ""
    divs = "".join(f'<div class="chart" id="{html.escape(c)}"></div>' for c in section["charts"])
    return (
        '<section id="ioi-consistency"><h2>IOI algorithm consistency</h2><p class="note">'
        "Tigges et al. (2024) Fig. 4 B-D: the share of the model's IOI performance (logit "
        "difference, clean vs corrupted) carried by each component class, <code>-100 &times;"
        "</code> the sum of its heads' path-patching effects <code>(patched - clean) / (clean - "
        "corrupted)</code>: B through the logits (direct effect), C through the name movers' "
        "queries, D through the S-inhibition heads' values. Solid: the class; dashed and dotted: "
        "its parts. A share near 0 means no head met the class's rules, not that the model has "
        "no mechanism: the table's last column names the head with the largest direct effect."
        f'</p><div class="grid">{divs}</div><h3>Role heads at each checkpoint</h3>'
        + html_table(section["columns"], section["rows"], "role-heads")
        + "</section>"
    )
