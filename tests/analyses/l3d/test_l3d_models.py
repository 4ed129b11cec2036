"""L3D end to end: TMS subnetworks align with its features; toys and their ground-truth metrics;
on tiny TransformerLens models, most-affected logits find a planted answer, top samples show
their context, and the attention block's subnetworks intervene more where they are active."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d import (
    TOYS,
    L3DConfig,
    Subnetworks,
    TokenData,
    VectorTarget,
    decompose,
    get_toy,
    most_affected_logits,
    select_parameters,
    token_target,
)
from mechcirc.analyses.l3d.reports import subnetwork_table
from mechcirc.analyses.l3d.toy_metrics import (
    feature_impacts,
    map_recovery,
    purity,
    tms_alignment,
    toy_summary,
)
from mechcirc.analyses.l3d.toys import decomposition_module
from mechcirc.errors import UsageError


def test_tms_subnetworks_align_with_the_features(trained_tms):
    spec = TOYS["tms"]
    module = decomposition_module(spec, trained_tms)
    target = VectorTarget(select_parameters(module), spec.sample)
    config = L3DConfig(
        n_subnetworks=5, steps=400, batch_size=512, lr=0.02, n_eval=2048, n_references=2,
        interventions=False,
    )  # fmt: skip
    result = decompose(target, config, progress=False)
    live = trained_tms.W.norm(dim=1) > 0.5  # this toy learned 4 of its 5 features
    assert live.sum() == 4
    cos = tms_alignment(trained_tms, result.subnetworks)[:, live]
    assert cos.max(0).values.min() >= 0.95  # each learned feature has a subnetwork ...
    assert len(set(cos.argmax(0).tolist())) == 4  # ... of its own
    assert result.loss < 0.4 and result.dead == 0
    summary = toy_summary(spec, trained_tms, result.subnetworks, result.inputs, result.impact)
    assert len(set(summary["group_to_subnetwork"][:4])) == 4


def test_untied_tms_computes_the_tied_function(trained_tms):
    x = TOYS["tms"].sample(torch.Generator().manual_seed(0), 16)
    untied = trained_tms.untied()
    assert [n for n, _ in untied.named_parameters()] == ["W_in", "W_out", "b"]
    torch.testing.assert_close(untied(x), trained_tms(x))


def _planted_paths(A: torch.Tensor, hidden: int, scales: list[float]) -> Subnetworks:
    """Subnetwork k = feature k's path: ``W_in = sign e_k h^T``, ``W_out = sign h (scale A[k])``."""
    n = len(A)
    subnets = Subnetworks({"W_in": (n, hidden), "W_out": (hidden, n), "b": (n,)}, n, ranks=1)
    with torch.no_grad():
        for k in range(n):
            sign, h = (-1) ** k, torch.eye(hidden)[k % hidden]
            subnets.v_out[0].factors[0][k, :, 0] = torch.eye(n)[k] * sign
            subnets.v_out[0].factors[1][k, :, 0] = h
            subnets.v_out[1].factors[0][k, :, 0] = h * sign
            subnets.v_out[1].factors[1][k, :, 0] = A[k] * scales[k]
            subnets.v_out[0].core[k] = subnets.v_out[1].core[k] = 1.0
            subnets.v_out[2].core[k] = 0.0
    return subnets


def test_map_recovery_reads_a_planted_decomposition():
    """The authors' recovery: each path's feature and ``a_hat = P_k[i*]``; sign-free, and one
    correlation over all rows, so equal scales recover A exactly and unequal ones do not."""
    A = torch.rand(4, 4, generator=torch.Generator().manual_seed(0)) * 3

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("A", A)

    exact = map_recovery(Model(), _planted_paths(A, 3, [2.0] * 4))
    assert exact["A_features"] == [0, 1, 2, 3] and exact["A_features_distinct"] == 4
    assert exact["A_r_pearson"] == pytest.approx(1.0) and exact["A_r2"] == pytest.approx(1.0)
    scaled = map_recovery(Model(), _planted_paths(A, 3, [1.0, 2.0, 3.0, 4.0]))
    assert scaled["A_features"] == [0, 1, 2, 3] and scaled["A_r_pearson"] < 0.99


def test_feature_impacts_and_purity_use_single_group_samples():
    x = torch.tensor([[0.5, 0.0], [0.0, 0.3], [0.2, 0.4], [0.0, 0.0]])
    impact = torch.tensor([[2.0, 0.0], [0.0, 3.0], [9.0, 9.0], [7.0, 7.0]])
    assert feature_impacts(x, impact).tolist() == [[2.0, 0.0], [0.0, 3.0]]
    grouped = torch.tensor([[0.5, 0.1, 0.0, 0.0], [0.0, 0.0, 0.2, 0.3]])
    assert feature_impacts(grouped, impact[:2], group_size=2).tolist() == [[2.0, 0.0], [0.0, 3.0]]
    assert purity(torch.tensor([[0.1, 5.0], [4.0, 0.2]])).tolist() == pytest.approx(
        [4.0 / 4.1, 5.0 / 5.2]
    )


def test_toys_build_sample_and_train_shapes():
    for name, spec in TOYS.items():
        model = spec.build(seed=0)
        x = spec.sample(torch.Generator().manual_seed(0), 200)
        assert model(x).shape == spec.task(model, x).shape, name
        if spec.nonzero_only:
            assert (x != 0).any(1).all(), name  # the authors' data: no empty inputs
        assert (x.min() < 0) == spec.signed, name
    x = TOYS["high-rank"].sample(torch.Generator().manual_seed(0), 500)
    groups = (x != 0).view(500, 5, 5)
    assert (groups.any(-1) == groups.all(-1)).all()  # a group is active as a whole
    squares = get_toy("squares").build(0)
    assert [n for n, _ in squares.named_parameters()][:2] == ["layers.0.weight", "layers.0.bias"]
    assert len(squares.layers) == 5 and squares.layers[1].weight.shape == (5, 5)
    with pytest.raises(UsageError, match="unknown toy 'nope'"):
        get_toy("nope")


def test_building_a_toy_leaves_the_callers_rng_alone():
    for name, spec in TOYS.items():
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        first = spec.build(seed=1)
        assert torch.equal(torch.rand(3), expected), name
        second = spec.build(seed=1).state_dict()  # the seed alone fixes the weights
        for key, value in first.state_dict().items():
            assert torch.equal(value, second[key]), (name, key)


def test_most_affected_logit_is_the_planted_token(tiny):
    """A subnetwork that moves only token t's unembedding row moves t's probability most."""
    model = tiny("gpt-neox")
    data = TokenData(n_texts=4, n_eval=2, seq_len=6)
    target = token_target(model, "unembed.weight", data)
    subnets = Subnetworks(target.group.shapes, 2, ranks=1, seed=0)
    vocab, d_model = target.group.shapes["unembed.weight"]
    planted = 1234
    with torch.no_grad():
        subnets.v_out[0].core.fill_(1.0)
        subnets.v_out[0].factors[0][0, :, 0] = torch.nn.functional.one_hot(
            torch.tensor(planted), vocab
        ).float()
        subnets.v_out[0].factors[1][0, :, 0] = torch.randn(d_model)
    top = most_affected_logits(target, subnets, k=0, row=1, position=3, n=5)
    assert top[0]["token_id"] == planted
    assert abs(top[0]["dprob"]) > 10 * abs(top[1]["dprob"])
    # the derivative agrees with a finite difference of the probability
    values = target.group.values()
    shifted = {
        "unembed.weight": values["unembed.weight"] + 1e-3 * subnets.direction(0)["unembed.weight"]
    }
    tokens = target.tokens[1, :4]
    with torch.no_grad():
        p0 = target.logits_one(values, tokens)[-1].softmax(-1)[planted]
        p1 = target.logits_one(shifted, tokens)[-1].softmax(-1)[planted]
    assert float((p1 - p0) / 1e-3) == pytest.approx(top[0]["dprob"], rel=1e-2)


def test_per_token_run_shows_context_position_and_logits(tiny_gpt_neo):
    data = TokenData(n_texts=16, n_eval=4, seq_len=6)
    target = token_target(tiny_gpt_neo, "blocks.0.attn.*", data)
    config = L3DConfig(n_subnetworks=3, steps=3, batch_size=4, n_eval=4, n_references=1, n_top=2,
                       interventions=False)  # fmt: skip
    result = decompose(target, config, progress=False)
    assert result.impact.shape == (4 * 6, 3)  # every position of every held-out text
    sample = result.top["0"][0]
    assert {"row", "position", "context", "token", "top_logits"} <= set(sample)
    assert target.tokens[sample["row"], sample["position"]].item() == sample["tokens"][-1]
    assert len({s["row"] for s in result.top["0"]}) == 2  # distinct texts
    table = subnetwork_table(result)
    assert f"⟦{sample['token']}⟧" in table and table.count("\n") == 2 + 3 * 2


def test_attention_block_interventions_are_selective(attention_target):
    """Moving along a subnetwork changes active samples' outputs more."""
    config = L3DConfig(
        n_subnetworks=4, topk=0.25, steps=30, batch_size=16, lr=0.03, n_eval=16,
        n_references=2, deltas=(0.01, 0.03),
    )  # fmt: skip
    result = decompose(attention_target, config, progress=False)
    curves = result.curves.dropna()
    assert len(curves) >= 4  # at least two subnetworks with active samples
    smallest = curves[curves["delta"] == 0.01]
    assert (smallest["active"] > smallest["inactive"]).all()
    weighted = (smallest["selectivity"] * smallest["n_active"]).sum() / smallest["n_active"].sum()
    assert weighted > 1.1


def test_decomposition_leaves_the_models_switches_and_weights_alone(tiny):
    from mechcirc.models.hooks import hook_switches

    model = tiny("llama")
    switches = hook_switches(model)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    target = token_target(model, "blocks.1.attn.*", TokenData(n_texts=8, n_eval=2, seq_len=4))
    config = L3DConfig(n_subnetworks=2, steps=2, batch_size=4, n_eval=2, n_references=1,
                       n_top=1, deltas=(0.1,))  # fmt: skip
    decompose(target, config, progress=False)
    assert hook_switches(model) == switches
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


@pytest.mark.parametrize("toy", ["circuit-superposition", "squares"])
def test_factored_subnetworks_give_the_dense_results_on_toys(toy):
    from mechcirc.analyses.l3d import ToyInputs, ToyTrainingConfig, toy_target

    inputs = ToyInputs(toy, seed=0, training=ToyTrainingConfig(steps=100))
    target, _ = toy_target(inputs)
    spec = get_toy(toy)
    results = []
    for chunk in (0, 3):
        config = L3DConfig.preset(
            "paper", n_subnetworks=spec.n_subnetworks, rank=spec.rank, steps=60, n_train=256,
            n_eval=128, n_references=2, subnetwork_chunk=chunk, deltas=(0.1,),
        )  # fmt: skip
        results.append(decompose(target, config, progress=False))
    dense, factored = results
    assert factored.loss == pytest.approx(dense.loss, rel=1e-4)
    torch.testing.assert_close(factored.impact, dense.impact, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(factored.subnetworks.dense("out"), dense.subnetworks.dense("out"),
                               atol=1e-5, rtol=1e-4)  # fmt: skip
