"""Self-repair per head and the component swap: known answers on planted models."""

from __future__ import annotations

import pytest
import torch

from mechcirc import tasks
from mechcirc.analyses.components.component_swap import component_swap_table, swap_head_outputs
from mechcirc.analyses.components.self_repair import self_repair
from mechcirc.errors import UsageError
from mechcirc.tasks.pairs import PromptPairs
from tests.analyses.heads.planted import PlantedModel, ToyConfig


def _previous_token_pairs() -> PromptPairs:
    """The answer is the last token's predecessor (what a copy head attending back writes)."""
    clean = torch.tensor([[5, 7, 9, 11], [8, 3, 4, 12], [20, 21, 22, 23]])
    return PromptPairs(
        clean=clean,
        corrupted=clean.flip(1),
        attention_mask=torch.ones_like(clean),
        correct=clean[:, 2:3],
        incorrect=clean[:, :1],
    )


@pytest.mark.parametrize("ablation", ["zero", "mean", "resample"])
def test_no_self_repair_without_downstream_components(ablation):
    model = PlantedModel(ToyConfig(n_layers=1, n_heads=2)).plant(0, 0, "copy")
    pairs = _previous_token_pairs()
    repair = self_repair(model, pairs, ablation=ablation, batch_size=2)
    assert torch.allclose(repair.total, repair.direct, atol=1e-5)
    assert repair.self_repair.abs().max() < 1e-5
    if ablation == "zero":  # the copier wrote +1 on the answer; zeroing it removes that
        assert repair.direct[0, 0] == pytest.approx(-1.0, abs=1e-5)
    assert repair.direct[0, 1] == 0  # a silent head changes nothing


def test_self_repair_does_not_depend_on_batch_size(tiny):
    model = tiny("gpt2")
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=4, seed=0)
    one = self_repair(model, pairs, ablation="mean", batch_size=1)
    all_ = self_repair(model, pairs, ablation="mean", batch_size=4)
    assert torch.allclose(one.total, all_.total, atol=1e-4)
    assert torch.allclose(one.direct, all_.direct, atol=1e-4)
    assert list(one.frame().columns) == [
        "layer", "head", "ablation", "direct", "total", "self_repair",
    ]  # fmt: skip
    with pytest.raises(UsageError, match="ablation must be one of"):
        self_repair(model, pairs, ablation="noise")


def test_swapping_in_the_source_heads_gives_the_source_metric():
    source = PlantedModel(ToyConfig(n_layers=2, n_heads=2)).plant(1, 0, "copy")
    target = PlantedModel(ToyConfig(n_layers=2, n_heads=2))  # the copier is not there yet
    pairs = _previous_token_pairs()
    result = swap_head_outputs(target, source, pairs, [(1, 0)])
    assert result["source"] == pytest.approx(1.0, abs=1e-5)
    assert result["target"] == pytest.approx(0.0, abs=1e-5)
    assert result["swapped"] == pytest.approx(result["source"], abs=1e-5)
    table = component_swap_table({0: target, 1: source}, pairs, {1: [(1, 0)]})
    assert table[["source_step", "target_step"]].values.tolist() == [[1, 0]]
    assert table["swapped"].iloc[0] == pytest.approx(1.0, abs=1e-5)


def test_swap_between_two_bridges_leaves_hook_switches(tiny):
    from mechcirc.models.hooks import hook_switches

    target, source = tiny("llama", seed=0), tiny("llama", seed=1)
    pairs = tasks.load_pairs("ioi", target.tokenizer, n=4, seed=0)
    before = hook_switches(target), hook_switches(source)
    same = swap_head_outputs(target, target, pairs, [(1, 0), (1, 3)])
    assert same["swapped"] == pytest.approx(same["target"], abs=1e-5)
    swapped = swap_head_outputs(target, source, pairs, [(1, 0)])
    assert swapped["swapped"] != pytest.approx(swapped["target"], abs=1e-6)
    assert (hook_switches(target), hook_switches(source)) == before
