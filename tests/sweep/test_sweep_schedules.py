"""Revision specs over checkpoint schedules: named schedules, ranges, lists, and refusals."""

from __future__ import annotations

import pytest

from mechcirc.errors import UsageError
from mechcirc.models.names import PYTHIA_STEPS
from mechcirc.models.schedules import (
    NAMED_SCHEDULES,
    expand_revisions,
    register_schedule,
    revision_step,
    tokens_per_step,
)

PYTHIA = "EleutherAI/pythia-160m"


def steps(spec: str, model: str = PYTHIA) -> list[int]:
    return [r.step for r in expand_revisions(spec, model)]


def test_sparse_is_the_authors_28_checkpoints():
    expected = [256, 512, *range(1000, 10000, 1000), *range(10000, 50000, 5000)]
    expected += [50000, 60000, 70000, 80000, 90000, 100000, 120000, 140000, 143000]
    assert steps("sparse") == expected
    assert len(expected) == 28


def test_all_log_and_linear_cover_pythia_schedule():
    assert steps("all") == list(PYTHIA_STEPS) and len(PYTHIA_STEPS) == 154
    assert steps("log") == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert steps("linear") == list(range(1000, 143001, 1000))
    assert set(steps("log")) | set(steps("linear")) == set(PYTHIA_STEPS)


def test_lists_and_ranges_mix_deduplicate_and_sort_by_step():
    found = expand_revisions("143000,step0,step1000:step3000:1000,2000", PYTHIA)
    assert [r.name for r in found] == ["step0", "step1000", "step2000", "step3000", "step143000"]
    assert steps("1000:143000:71000") == [1000, 72000, 143000]


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("step0,step1234", "step1234"),
        ("step1000:step3000:500", "step1500"),
        ("step600", "nearest: step512"),
        ("main", "'main'"),
        ("step3000:step1000:1000", "START <= STOP"),
        ("", "names no revision"),
    ],
)
def test_a_bad_revision_is_refused_naming_it(spec, named):
    with pytest.raises(UsageError) as caught:
        expand_revisions(spec, PYTHIA)
    assert named in str(caught.value)


def test_a_model_without_a_known_schedule_takes_explicit_revisions_only():
    found = expand_revisions("main,step5,v1.0", "someone/model")
    assert [(r.step, r.name) for r in found] == [(5, "step5"), (None, "main"), (None, "v1.0")]
    with pytest.raises(UsageError, match="no known checkpoint schedule"):
        expand_revisions("sparse", "someone/model")
    assert tokens_per_step("someone/model") is None


def test_a_registered_schedule_validates_and_expands(monkeypatch):
    from mechcirc.models import schedules

    monkeypatch.setattr(schedules, "_SCHEDULES", {})
    register_schedule("mechcirc/toy", (0, 100, 200), tokens_per_step=512)
    assert steps("all", "mechcirc/toy") == [0, 100, 200]
    assert tokens_per_step("mechcirc/toy") == 512
    with pytest.raises(UsageError, match="step150"):
        expand_revisions("step150", "mechcirc/toy")


def test_tokens_and_step_names():
    assert tokens_per_step(PYTHIA) == 2_097_152
    assert revision_step("step143000") == 143000 and revision_step("143000") == 143000
    assert revision_step("main") is None
    assert set(NAMED_SCHEDULES) == {"all", "log", "linear", "sparse"}
