"""Attribution against ground truth: exact patching, finite differences, the path integral."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechcirc.analyses.eap import METHODS, attribute, exact_scores
from mechcirc.errors import UsageError
from mechcirc.graph import GraphLayout

from .eap_reference import (
    exact_edge_scores,
    gradient_scores,
    ioi_pairs,
    patched_metric,
    private_model,
    random_pairs,
    sources,
    split_heads,
)


def real_values(scores: torch.Tensor, layout: GraphLayout) -> torch.Tensor:
    return scores.double()[layout.real_edges]


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def test_exact_equals_independent_single_edge_patching(model):
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    ours = exact_scores(model, pairs, batch_size=4, progress=False)
    edges = layout.real_edges.nonzero().tolist()
    reference = exact_edge_scores(model, pairs, edges)
    expected = torch.zeros_like(ours)
    for (src, dst), value in reference.items():
        expected[src, dst] = value
    assert expected.abs().max() > 1e-3  # the corruption moves the metric
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    assert (ours[~layout.real_edges] == 0).all()


def test_eap_equals_gradient_reference(model):
    pairs = random_pairs()
    ours = attribute(model, pairs, "eap", batch_size=4, progress=False).scores
    expected = gradient_scores(model, pairs, alpha=1.0).float()
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-4)


def test_eap_matches_finite_difference_per_edge(arch):
    model = private_model(arch, torch.float64)
    pairs = random_pairs(n=3)
    layout = GraphLayout.from_model(model)
    ours = attribute(model, pairs, "eap", progress=False).scores.double()
    edges = layout.real_edges.nonzero().tolist()[::5]
    # Llama's RMSNorm computes in float32 even in a float64 model, so the difference quotient
    # carries ~1e-7 / eps of rounding: a large step (the O(eps^2) error stays far smaller)
    # and an absolute tolerance of 1e-6 (scores reach ~1e-3).
    eps = 1e-2
    with split_heads(model), torch.no_grad():
        delta = sources(model, pairs.clean) - sources(model, pairs.corrupted)
        for src, dst in edges:
            minus = patched_metric(model, pairs, layout, src, dst, delta, scale=-eps).mean()
            plus = patched_metric(model, pairs, layout, src, dst, delta, scale=eps).mean()
            derivative = float((minus - plus) / (2 * eps))
            assert ours[src, dst].item() == pytest.approx(derivative, rel=1e-3, abs=1e-6)


def test_eap_ig_inputs_approaches_the_path_integral(model):
    pairs = random_pairs(n=4)
    layout = GraphLayout.from_model(model)
    nodes, weights = np.polynomial.legendre.leggauss(8)
    integral = sum(
        float(w) / 2 * gradient_scores(model, pairs, alpha=(float(x) + 1) / 2)
        for x, w in zip(nodes, weights, strict=True)
    )
    target = real_values(integral, layout)
    errors = []
    for steps in (4, 16, 64):
        scores = attribute(model, pairs, "eap-ig-inputs", ig_steps=steps, progress=False).scores
        errors.append(float((real_values(scores, layout) - target).abs().max()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02 * float(target.abs().max())


@pytest.mark.parametrize(
    ("method", "alphas"), [("eap-ig-inputs", (0.0, 1 / 3, 2 / 3)), ("clean-corrupted", (0.0, 1.0))]
)
def test_interpolation_methods_average_the_reference_gradients(model, method, alphas):
    pairs = random_pairs(n=4)
    ours = attribute(model, pairs, method, ig_steps=3, progress=False).scores
    expected = sum(gradient_scores(model, pairs, alpha) for alpha in alphas) / len(alphas)
    torch.testing.assert_close(ours, expected.float(), atol=1e-6, rtol=1e-4)


def test_eap_ig_inputs_correlates_with_exact_on_ioi(arch):
    model = private_model(arch)
    pairs = ioi_pairs(arch)
    layout = GraphLayout.from_model(model)
    exact = real_values(exact_scores(model, pairs, progress=False), layout)
    ig = real_values(attribute(model, pairs, ig_steps=5, progress=False).scores, layout)
    assert pearson(ig, exact) >= 0.9


def test_eap_ig_activations_last_mlp_edge_is_its_exact_effect(model):
    # m{last} feeds only the logits, so IG over its output integrates the full patching effect
    pairs = random_pairs()
    layout = GraphLayout.from_model(model)
    edge = layout.mlp_src(layout.n_layers - 1), layout.logits_dst
    exact = exact_scores(model, pairs, progress=False)[edge].item()
    ig = attribute(model, pairs, "eap-ig-activations", ig_steps=40, progress=False).scores
    assert abs(exact) > 1e-4
    assert ig[edge].item() == pytest.approx(exact, rel=0.05)


@pytest.mark.parametrize("method", ["eap-ig-inputs", "clean-corrupted", "eap-ig-activations"])
def test_scores_do_not_depend_on_batch_size(model, method):
    pairs = random_pairs(n=6)
    whole = attribute(model, pairs, method, ig_steps=3, batch_size=6, progress=False).scores
    split = attribute(model, pairs, method, ig_steps=3, batch_size=4, progress=False).scores
    torch.testing.assert_close(split, whole, atol=1e-7, rtol=1e-5)


def test_clean_corrupted_ignores_ig_steps_and_records_none(model):
    pairs = random_pairs(n=2)
    result = attribute(model, pairs, "clean-corrupted", ig_steps=3, progress=False)
    assert result.ig_steps is None
    other = attribute(model, pairs, "clean-corrupted", ig_steps=7, progress=False)
    torch.testing.assert_close(other.scores, result.scores, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("method", "recorded"),
    [("eap", None), ("exact", None), ("eap-ig-inputs", 2), ("eap-ig-activations", 2)],
)
def test_ig_steps_is_recorded_only_for_integrated_gradient_methods(model, method, recorded):
    result = attribute(model, random_pairs(n=2), method, ig_steps=2, progress=False)
    assert result.ig_steps == recorded


def test_attribution_freezes_parameters_and_restores_them(tiny):
    model = tiny("gpt-neox")
    params = list(model.parameters())
    before = [p.requires_grad for p in params]
    result = attribute(model, random_pairs(n=2), progress=False)
    assert all(p.grad is None for p in params)
    assert [p.requires_grad for p in params] == before
    assert result.method == "eap-ig-inputs" and result.ig_steps == 5 and result.n_examples == 2
    assert set(METHODS) == {
        "eap",
        "eap-ig-inputs",
        "eap-ig-activations",
        "clean-corrupted",
        "exact",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "eap-ig"}, "unknown attribution method 'eap-ig'"),
        ({"ig_steps": 0}, "ig_steps must be a positive integer, got 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_bad_arguments_are_usage_errors(tiny, kwargs, message):
    with pytest.raises(UsageError, match=message):
        attribute(tiny("gpt-neox"), random_pairs(n=2), progress=False, **kwargs)


def test_eap_matches_the_reference_with_hooked_weight_processing():
    # load_model's default: HookedTransformer's weight processing
    model = private_model("gpt-neox", processing="hooked")
    pairs = random_pairs(n=4)
    eap = attribute(model, pairs, "eap", progress=False).scores
    torch.testing.assert_close(
        eap, gradient_scores(model, pairs, 1.0).float(), atol=1e-6, rtol=1e-4
    )


def test_gpt2_style_model_exact_and_eap_match_the_references():
    # sequential attention/MLP, learned positional embeddings inside ``input``, attention biases
    model = private_model("gpt2")
    pairs = random_pairs(n=4)
    layout = GraphLayout.from_model(model)
    edges = layout.real_edges.nonzero().tolist()[::3]
    exact = exact_scores(model, pairs, progress=False)
    for (src, dst), value in exact_edge_scores(model, pairs, edges).items():
        assert exact[src, dst].item() == pytest.approx(value, abs=1e-5)
    eap = attribute(model, pairs, "eap", progress=False).scores
    torch.testing.assert_close(
        eap, gradient_scores(model, pairs, 1.0).float(), atol=1e-6, rtol=1e-4
    )
