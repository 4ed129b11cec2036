"""A model's shape comes from its config alone, so requests are checked before weights load."""

from __future__ import annotations

import pytest

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.shape import check_positions, model_shape


def test_shape_of_the_offline_model_without_loading_it(offline_env, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("weights must not load")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", never)
    shape = model_shape("pythia-160m", "step1000")
    assert (shape.n_layers, shape.n_heads, shape.d_model, shape.n_ctx) == (4, 4, 64, 256)
    check_positions(shape, 256, "--seq-len 127")
    with pytest.raises(UsageError, match="needs 257 positions, but the model's context holds 256"):
        check_positions(shape, 257, "--seq-len 128")


def test_a_revision_not_in_the_cache_names_what_was_tried(offline_env):
    with pytest.raises(ModelLoadError, match="at revision step2000"):
        model_shape("pythia-160m", "step2000")
