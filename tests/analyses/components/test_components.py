"""IOI components: known answers on a planted model, the rules over checkpoints, bridges."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mechcirc import tasks
from mechcirc.analyses.components import (
    EFFECT_COLUMNS,
    SCORE_COLUMNS,
    IOIComponentsConfig,
    position_swap,
    run_ioi_components,
    token_swap,
)
from mechcirc.analyses.components.emergence import (
    component_emergence,
    emergence_curve,
    load_balancing,
)
from mechcirc.analyses.components.figures import plot_ioi_consistency
from mechcirc.models.hooks import hook_switches
from mechcirc.tasks.pairs import PromptPairs
from tests.analyses.heads.planted import PlantedModel, ToyConfig

QUICK = IOIComponentsConfig.preset("quick")


def _planted_ioi():
    """Layer 1: a copier (a1.h0) and a half-strength suppressor (a1.h1), both attending from
    the end to the IO just before it. Clean IO logit 1 - 0.5 = 0.5, S logit 0; the corrupted
    prompt has another name at the IO position: logit difference 0."""
    model = PlantedModel(ToyConfig(n_layers=2, n_heads=4)).plant(1, 0, "copy")
    model.plant(1, 1, "suppress")
    with torch.no_grad():
        model.blocks[1].attn.W_O[1] *= 0.5
    clean = torch.tensor([[5, 7, 9, 5, 11, 7], [8, 3, 4, 8, 12, 3], [20, 21, 22, 20, 23, 24]])
    corrupted = clean.clone()
    corrupted[:, 4] = torch.tensor([30, 31, 32])
    pairs = PromptPairs(
        clean=clean,
        corrupted=corrupted,
        attention_mask=torch.ones_like(clean),
        correct=clean[:, 4:5],
        incorrect=clean[:, :1],
        positions={
            "io": torch.tensor([4, 4, 4]),
            "s1": torch.tensor([0, 0, 0]),
            "s2": torch.tensor([3, 3, 3]),
            "end": torch.tensor([5, 5, 5]),
        },
    )
    generator = torch.Generator().manual_seed(0)
    text = torch.stack([torch.randperm(100, generator=generator)[:12] for _ in range(200)])
    return model, pairs, text


@pytest.fixture(scope="module")
def planted_result():
    model, pairs, text = _planted_ioi()
    return run_ioi_components(model, pairs, QUICK, cspa_tokens=text)


def test_planted_roles(planted_result):
    roles = planted_result.roles
    assert roles["name_mover"] == [(1, 0)]
    assert roles["negative_name_mover"] == [(1, 1)]
    assert roles["copy_suppression"] == [(1, 1)]
    assert roles["s_inhibition"] == [] and roles["induction"] == []


def test_planted_effects_and_shares(planted_result):
    direct = planted_result.effects["direct_effect"]
    # copier alone patched: (-0.5 - 0.5) / 0.5 = -2; suppressor: (1 - 0.5) / 0.5 = +1
    assert direct[1, 0] == pytest.approx(-2.0, abs=1e-4)
    assert direct[1, 1] == pytest.approx(1.0, abs=1e-4)
    assert direct[0].abs().max() < 1e-6
    shares = planted_result.consistency_frame().set_index("role")["share"]
    assert shares["name_mover"] == pytest.approx(200.0, abs=1e-2)
    assert shares["negative_name_mover"] == pytest.approx(-100.0, abs=1e-2)
    assert shares["direct"] == pytest.approx(100.0, abs=1e-2)  # the direct shares add up
    assert shares["s_inhibition"] == 0


def test_components_frame_has_every_head_and_the_sweep_columns(planted_result):
    frame = planted_result.components_frame()
    assert list(frame.columns) == ["layer", "head", "role", *SCORE_COLUMNS, *EFFECT_COLUMNS]
    assert len(frame.drop_duplicates(["layer", "head"])) == 8
    assert set(frame[(frame["layer"] == 1) & (frame["head"] == 1)].role) == {
        "negative_name_mover",
        "copy_suppression",
    }
    row = frame[(frame["layer"] == 1) & (frame["head"] == 0)].iloc[0]
    assert row.context_copy == 1 and row.attn_io == pytest.approx(1, abs=1e-6)
    assert list(planted_result.consistency_frame().columns) == ["role", "share", "n_heads"]


def test_swaps_move_the_names():
    tokens = torch.tensor([[1, 5, 2, 6, 3, 6, 4]])  # IO 5 at 1, S 6 at 3 and 5
    positions = {"io": torch.tensor([1]), "s1": torch.tensor([3]), "s2": torch.tensor([5])}
    assert position_swap(tokens, positions).tolist() == [[1, 6, 2, 5, 3, 6, 4]]
    assert token_swap(tokens, positions).tolist() == [[1, 6, 2, 5, 3, 5, 4]]


@pytest.mark.parametrize("arch", ["gpt-neox", "gpt2", "llama"])
def test_runs_on_every_architecture_and_leaves_hook_switches(tiny, arch):
    model = tiny(arch)
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=4, seed=0)
    before = hook_switches(model)
    config = QUICK.replace(copy_threshold=0.0, cspa_effect=0.0, cspa_sequences=2)
    result = run_ioi_components(model, pairs, config)
    assert hook_switches(model) == before
    assert result.effects["direct_effect"].isfinite().all()


def _history() -> pd.DataFrame:
    """Two heads over four steps: a0.h1 rises to 0.8 but is in the circuit once; a1.h0 reaches
    0.3 (>= 25% of 0.8) and is in the circuit three times; a1.h1 never passes 0.1."""
    rows = []
    values = {(0, 1): [0.0, 0.8, 0.8, 0.1], (1, 0): [0.1, 0.3, 0.3, 0.3], (1, 1): [0.1] * 4}
    circuit = {(0, 1): [0, 1, 0, 0], (1, 0): [0, 1, 1, 1], (1, 1): [1, 1, 1, 1]}
    for (layer, head), series in values.items():
        for step, value in enumerate(series):
            rows.append(
                {"model": "m", "step": step * 100, "layer": layer, "head": head,
                 "score": "induction", "value": value,
                 "in_circuit": bool(circuit[(layer, head)][step])}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_emergence_rule_prefers_the_candidate_in_the_circuit_longest():
    chosen = component_emergence(_history(), "induction").iloc[0]
    assert (chosen["layer"], chosen["head"]) == (1, 0)
    assert chosen.n_candidates == 2 and chosen.checkpoints_in_circuit == 3
    curve = emergence_curve(_history(), "induction")
    assert curve["value"].tolist() == [0.1, 0.3, 0.3, 0.3]


def test_load_balancing_ranks_the_in_circuit_heads_per_step():
    top = load_balancing(_history(), "induction", top=2)
    at_100 = top[top.step == 100]
    assert at_100[["rank", "layer", "head"]].values.tolist() == [[1, 0, 1], [2, 1, 0]]
    assert top[top.step == 0][["layer", "head"]].values.tolist() == [[1, 1]]


def test_consistency_figure_is_written(tmp_path):
    frame = pd.DataFrame(
        [
            {"model": m, "step": s, "role": r, "share": 10.0 * s}
            for m in ("a", "b")
            for s in (0, 1, 2, 4)
            for r in ("direct", "s_inhibition", "induction_duplicate")
        ]
    )
    fig = plot_ioi_consistency(frame, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000 and len(fig.axes) == 3


def test_scores_long_turns_component_tables_into_the_rules_input(planted_result):
    from mechcirc.analyses.components import scores_long

    frames = []
    for step in (0, 10):
        frame = planted_result.components_frame()
        frame.insert(0, "step", step)
        frame.insert(0, "model", "planted")
        frames.append(frame)
    long = scores_long(pd.concat(frames), ("context_copy", "attn_io"))
    assert list(long.columns) == ["model", "step", "layer", "head", "score", "value", "in_circuit"]
    assert len(long) == 2 * 2 * 8  # steps x scores x heads (a head with two roles counts once)
    copier = long[(long["layer"] == 1) & (long["head"] == 0) & (long["score"] == "context_copy")]
    assert copier["value"].tolist() == [1.0, 1.0] and copier["in_circuit"].all()
    chosen = component_emergence(long, "context_copy").iloc[0]
    assert (chosen["layer"], chosen["head"]) == (1, 0)
