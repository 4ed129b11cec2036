"""Short names, hub ids and Pythia revisions."""

import pytest

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.names import (
    PYTHIA_STEPS,
    SHORT_NAMES,
    normalize_revision,
    resolve_model_id,
)


@pytest.mark.parametrize(
    ("name", "hub_id"),
    [
        ("pythia-70m", "EleutherAI/pythia-70m"),
        ("pythia-1.4b-deduped", "EleutherAI/pythia-1.4b-deduped"),
        ("pythia-12b", "EleutherAI/pythia-12b"),
        ("PYTHIA-160M", "EleutherAI/pythia-160m"),
        ("gpt2", "openai-community/gpt2"),
        ("gpt2-xl", "openai-community/gpt2-xl"),
        ("EleutherAI/pythia-410m", "EleutherAI/pythia-410m"),
        ("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-1B"),
    ],
)
def test_resolve_model_id(name, hub_id):
    assert resolve_model_id(name) == hub_id


def test_whole_pythia_suite_has_short_names():
    for size in ("70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"):
        assert f"pythia-{size}" in SHORT_NAMES
        assert f"pythia-{size}-deduped" in SHORT_NAMES


def test_unknown_short_name_lists_close_matches():
    with pytest.raises(ModelLoadError, match=r"unknown model name 'pythia-16m'.*pythia-160m"):
        resolve_model_id("pythia-16m")


def test_pythia_schedule():
    assert PYTHIA_STEPS[:11] == (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert PYTHIA_STEPS[11:14] == (1000, 2000, 3000)
    assert PYTHIA_STEPS[-1] == 143000
    assert len(PYTHIA_STEPS) == 11 + 143


@pytest.mark.parametrize("revision", [143000, "143000", "step143000", " step143000 "])
def test_revision_forms_normalise_to_step(revision):
    assert normalize_revision(revision, "EleutherAI/pythia-160m") == "step143000"


def test_non_step_revisions_pass_through():
    assert normalize_revision("main", "EleutherAI/pythia-160m") == "main"
    assert normalize_revision("a" * 40, "openai-community/gpt2") == "a" * 40
    assert normalize_revision(None, "EleutherAI/pythia-160m") is None


@pytest.mark.parametrize("step", ["step1234", 1234, "step513", "step144000"])
def test_invalid_pythia_step_names_the_schedule(step):
    with pytest.raises(ModelLoadError, match=r"no checkpoint at step.*0, 1, 2, 4.*every 1000"):
        normalize_revision(step, "EleutherAI/pythia-160m")


def test_step_revisions_of_other_models_are_not_checked():
    assert normalize_revision("step1234", "someone/custom-model") == "step1234"


def test_bool_revision_is_rejected():
    with pytest.raises(UsageError):
        normalize_revision(True, "EleutherAI/pythia-160m")
