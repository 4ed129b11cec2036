"""examples/ioi_components.py in quick mode prints baselines and effects that check out."""

from __future__ import annotations

import re

import pytest
import torch

from mechcirc import tasks
from mechcirc.models.tiny import tiny_model
from tests.examples.runner import example_main


@pytest.mark.slow
def test_ioi_components_example_quick(capsys):
    result = example_main("ioi_components.py")(["--quick"])
    out = capsys.readouterr().out
    clean, corrupted = map(float, re.search(r"clean (\S+), corrupted (\S+)", out).groups())
    # the printed baselines are the model's own logit differences on the same prompts
    model = tiny_model("gpt2", n_layers=3)
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=16)
    with torch.no_grad():
        assert clean == pytest.approx(float(pairs.evaluate(model(pairs.clean)).mean()), abs=1e-4)
        assert corrupted == pytest.approx(
            float(pairs.evaluate(model(pairs.corrupted)).mean()), abs=1e-4
        )
    printed = re.findall(r"direct effect a(\d+)\.h(\d+): (\S+)", out)
    assert len(printed) == 3
    direct = result.effects["direct_effect"]
    for layer, head, value in printed:
        assert float(value) == pytest.approx(float(direct[int(layer), int(head)]), abs=1e-4)
    assert float(printed[0][2]) == pytest.approx(float(direct.min()), abs=1e-4)
    assert "name_mover:" in out and "induction_duplicate" in out
