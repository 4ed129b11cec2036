"""The sweep's figures of the ``ioi-components`` tables: Fig. 4 B-D (``ioi_consistency``) and
the heads with the largest |direct effect| over training (``direct_effect_<model>``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mechcirc.sweep.figures import (
    _direct_effects,
    strongest_direct_heads,
    unreliable_ioi_tokens,
    write_figures,
)

STEPS = (0, 100, 1000)
# (layer, head) -> direct effect at each step; a1.h0 holds two roles (two rows per step)
EFFECTS = {
    (1, 0): [0.0, -0.3, -0.7],
    (1, 1): [0.0, 0.2, 0.1],
    (0, 0): [0.01, 0.05, 0.02],
    (0, 1): [-0.5, 0.0, 0.0],  # strong early only: ranked by its peak
}


def _components() -> pd.DataFrame:
    rows = []
    for i, step in enumerate(STEPS):
        for (layer, head), values in EFFECTS.items():
            roles = ["name_mover", "copy_suppression"] if (layer, head) == (1, 0) else ["none"]
            rows += [
                {"model": "org/m", "revision": f"step{step}", "step": step, "tokens": 10 * step,
                 "layer": layer, "head": head, "role": role, "direct_effect": values[i]}
                for role in roles
            ]  # fmt: skip
    return pd.DataFrame(rows)


def _consistency() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": "org/m", "revision": f"step{s}", "step": s, "tokens": 10 * s, "role": role,
             "share": float(i), "n_heads": 1}
            for i, s in enumerate(STEPS)
            for role in ("direct", "s_inhibition", "induction_duplicate")
        ]
    )  # fmt: skip


def test_the_strongest_direct_heads_are_ranked_by_their_peak_effect():
    heads = strongest_direct_heads(_components(), "org/m", k=3)
    assert heads == [(1, 0), (0, 1), (1, 1)]
    assert strongest_direct_heads(_components(), "other", k=3) == []


def test_unreliable_checkpoints_come_from_the_ioi_baselines():
    circuits = pd.DataFrame(
        {"model": ["org/m"] * 4 + ["other"], "task": ["ioi", "ioi", "ioi", "greater-than", "ioi"],
         "tokens": [0, 1000, 10_000, 0, 0], "baseline_reliable": [False, True, True, False, False]}
    )  # fmt: skip
    assert unreliable_ioi_tokens(circuits, "org/m") == [0]
    assert unreliable_ioi_tokens(None, "org/m") == []


def test_the_direct_effect_figure_draws_each_heads_curve_once():
    fig = _direct_effects(_components(), "org/m", unreliable=[0, 1000])
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] == "a"}
    assert list(lines) == ["a1.h0", "a0.h1", "a1.h1", "a0.h0"]
    bands = [line for line in ax.get_lines() if line.get_linewidth() == 7]
    assert [band.get_xdata()[0] for band in bands] == [0, 1000]
    for (layer, head), values in EFFECTS.items():
        line = lines[f"a{layer}.h{head}"]
        np.testing.assert_allclose(line.get_xdata(), [10 * s for s in STEPS])
        np.testing.assert_allclose(line.get_ydata(), values)


def test_write_figures_draws_the_component_figures_only_with_their_tables(tmp_path):
    paths = write_figures(
        {"components": _components(), "ioi_consistency": _consistency()}, tmp_path
    )
    names = sorted(path.name for path in paths)
    assert names == [
        "direct_effect_org--m.png", "direct_effect_org--m.svg",
        "ioi_consistency.png", "ioi_consistency.svg",
    ]  # fmt: skip
    for path in paths:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else b"<?xml" in head
        assert path.stat().st_size > 2000
    empty = {"components": _components().iloc[:0], "ioi_consistency": _consistency().iloc[:0]}
    assert write_figures(empty, tmp_path / "none") == []
