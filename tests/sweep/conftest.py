"""Two Pythia-shaped models of different sizes at six revisions each, in the session's offline
hub, and small sweep settings that keep the tests fast."""

from __future__ import annotations

import pytest

from mechcirc.models.offline_hub import TinyPythiaShape

REVISIONS = ("step0", "step512", "step1000", "step2000", "step4000", "step143000")
SHAPES = {
    "pythia-70m": TinyPythiaShape(n_layers=2, n_heads=2, d_model=32, d_mlp=64, n_ctx=64),
    "pythia-31m": TinyPythiaShape(n_layers=3, n_heads=2, d_model=32, d_mlp=64, n_ctx=64),
}
# Flags of a small, quick sweep; the plan's other settings keep their defaults.
SMALL_FLAGS = ["--n", "6", "--ig-steps", "2", "--batch-size", "6", "--threads", "1"]
SMALL_FLAGS += ["--head-scores", "induction,previous_token,copy"]
SMALL_SETTINGS = {"n": 6, "ig_steps": 2, "batch_size": 6}
SMALL_SETTINGS["head_scores"] = ("induction", "previous_token", "copy")


@pytest.fixture(scope="session")
def sweep_hub(offline_hub) -> str:
    """HF_HOME with pythia-70m (2 layers) and pythia-31m (3 layers) at :data:`REVISIONS`."""
    from mechcirc.models.offline_hub import build_offline_hub

    for model, shape in SHAPES.items():
        build_offline_hub(offline_hub, model=model, revisions=REVISIONS, shape=shape)
    return offline_hub


def small_plan(models=("pythia-70m",), revisions="step0,step143000", **settings):
    from mechcirc.sweep import build_plan

    chosen = {"tasks": ("ioi",), **SMALL_SETTINGS, **settings}
    return build_plan(models=list(models), revisions=revisions, **chosen)
