"""The micro-Pythia from the session's offline hub, loaded once per checkpoint.

Models are shared between tests: analyses may switch hook flags on them (path patching does),
but no test changes their weights or leaves hooks on them.
"""

from __future__ import annotations

import functools

import pytest

from mechcirc.models.micro_spec import load_spec

SPEC = load_spec()
FIRST, LAST = SPEC.revisions()[0], SPEC.revisions()[-1]


@functools.cache
def _load(revision: str):
    import mechcirc

    return mechcirc.load_model("micro-pythia", revision=revision, device="cpu")


@pytest.fixture(scope="session")
def micro(micro_hub):
    """``micro(revision)``: the micro-Pythia at ``revision`` (default: the last checkpoint)."""

    def get(revision: str = LAST):
        model = _load(revision)
        model.reset_hooks()
        return model

    return get
