"""Per-sample gradients (vmap over grad; per token, jacrev over positions) against a plain
autograd loop; references; divergences."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.l3d import TOYS, TokenData, TokenTarget, VectorTarget, token_target
from mechcirc.analyses.l3d.gradients import (
    authors_mse_divergence,
    kl_divergence,
    mse_divergence,
    per_sample_gradients,
    reference_indices,
    reference_outputs,
)
from mechcirc.analyses.l3d.parameters import select_parameters
from mechcirc.errors import UsageError
from tests.shape_checks import unchecked


def _loop_gradients(params, losses):
    """The reference: one autograd call per sample."""
    rows = [torch.autograd.grad(loss(), params) for loss in losses]
    return [torch.stack(g) for g in zip(*rows, strict=True)]


@pytest.mark.parametrize("divergence", ["mse", "mse-authors"])
def test_toy_gradients_equal_a_loop(generator, divergence):
    spec = TOYS["squares"]
    model = spec.build(seed=0)
    target = VectorTarget(select_parameters(model), spec.sample, divergence=divergence)
    x = target.sample(generator, 64)
    refs = reference_outputs(target, x, generator)
    fast = per_sample_gradients(target, x, refs)
    params = [e.tensor for e in target.group.entries]
    fn = mse_divergence if divergence == "mse" else authors_mse_divergence
    slow = _loop_gradients(
        params, [lambda i=i: fn(model(x[i : i + 1])[0], refs[i]) for i in range(64)]
    )
    for name, expected in zip(target.group.names, slow, strict=True):
        torch.testing.assert_close(fast[name], expected, atol=1e-5, rtol=1e-5)


def test_authors_divergence_keeps_a_reference_free_term():
    """d/df of sum(f (f - r)) with r fixed is 2f - r: at f = r it is r, not 0 as for the MSE."""
    f = torch.tensor([0.5, -1.0], requires_grad=True)
    (grad,) = torch.autograd.grad(authors_mse_divergence(f, f.detach()), f)
    torch.testing.assert_close(grad, f.detach())


def _enable(params):
    for p in params:
        p.requires_grad_(True)


def test_last_position_gradients_equal_a_loop(attention_target, generator):
    target = attention_target
    model = target.group.module
    inputs = target.sample(generator, 6)
    refs = reference_outputs(target, inputs, generator)
    fast = per_sample_gradients(target, inputs, refs)
    params = [e.tensor for e in target.group.entries]
    tokens = inputs["tokens"]
    with torch.enable_grad():
        _enable(params)
        losses = [
            lambda i=i: kl_divergence(model(tokens[i : i + 1])[0, -1], refs[i]) for i in range(6)
        ]
        slow = _loop_gradients(params, losses)
    assert max(g.abs().max() for g in slow) > 1e-4  # the check is not vacuous
    for name, expected in zip(target.group.names, slow, strict=True):
        torch.testing.assert_close(fast[name], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["gpt-neo", "gpt-neox", "llama"])
def test_per_token_gradients_equal_a_loop_over_text_and_position(arch, tiny, tiny_gpt_neo):
    """Every position of every text is a sample; its reference another (text, position)."""
    model = tiny_gpt_neo if arch == "gpt-neo" else tiny(arch)
    data = TokenData(n_texts=6, n_eval=2, seq_len=5, positions="all")
    target = token_target(model, "blocks.0.attn.*", data)
    generator = torch.Generator().manual_seed(3)
    inputs = target.sample(generator, 3)
    refs = reference_outputs(target, inputs, generator)
    assert refs.shape == (15, model.cfg.d_vocab) and target.n_samples(inputs) == 15
    fast = per_sample_gradients(target, inputs, refs)
    params = [e.tensor for e in target.group.entries]
    tokens = inputs["tokens"]

    def loss(i):
        text, position = divmod(i, 5)
        return kl_divergence(model(tokens[text : text + 1])[0, position], refs[i])

    with torch.enable_grad():
        _enable(params)
        slow = _loop_gradients(params, [lambda i=i: loss(i) for i in range(15)])
    assert max(g.abs().max() for g in slow) > 1e-4
    for name, expected in zip(target.group.names, slow, strict=True):
        torch.testing.assert_close(fast[name], expected, atol=2e-5, rtol=1e-4)


def test_read_position_selects_the_logits(tiny):
    model = tiny("gpt-neox")
    tokens = torch.randint(1000, (3, 6), generator=torch.Generator().manual_seed(1))
    read = torch.tensor([5, 2, 0])
    group = select_parameters(model, "blocks.1.mlp.*")
    target = TokenTarget(group, tokens, read, positions="last")
    sample = target.sample(torch.Generator().manual_seed(0), 3)
    rows = sample["row"]
    expected = model(tokens[rows])[torch.arange(3), read[rows]]
    torch.testing.assert_close(target.outputs(target.group.values(), sample), expected)
    assert target.locate(sample, 1) == (int(rows[1]), int(read[rows[1]]))


def test_references_are_other_samples():
    index = reference_indices(50, torch.Generator().manual_seed(0))
    assert (index != torch.arange(50)).all()
    assert index.min() >= 0 and index.max() < 50
    with pytest.raises(UsageError, match="at least 2"):
        reference_indices(1, torch.Generator())


def test_divergences_vanish_at_the_reference_only():
    out = torch.tensor([0.5, -1.0, 2.0])
    assert mse_divergence(out, out) == 0
    assert kl_divergence(out, out).abs() < 1e-7
    assert kl_divergence(out + 3.0, out).abs() < 1e-6  # logits are shift-invariant
    assert kl_divergence(out, torch.tensor([2.0, 0.0, -1.0])) > 0.1


def test_token_target_validates_shapes(tiny):
    group = select_parameters(tiny("gpt-neox"), "blocks.0.attn.o.*")
    with unchecked(), pytest.raises(UsageError, match="one read position per row"):
        TokenTarget(group, torch.zeros(4, 5, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(UsageError, match="at least 2 training texts"):
        TokenTarget(group, torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    with pytest.raises(UsageError, match="positions must be"):
        TokenTarget(group, torch.zeros(4, 5, dtype=torch.long), torch.zeros(4, dtype=torch.long),
                    positions="first")  # fmt: skip
