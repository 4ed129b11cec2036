"""Per-sample gradients (vmap over grad) against a per-sample loop; references; divergences."""

from __future__ import annotations

import pytest
import torch
from shape_checks import unchecked

from mechcirc.analyses.l3d.gradients import (
    kl_divergence,
    mse_divergence,
    per_sample_gradients,
    reference_indices,
    reference_outputs,
)
from mechcirc.analyses.l3d.parameters import select_parameters
from mechcirc.analyses.l3d.targets import TokenTarget, VectorTarget
from mechcirc.analyses.l3d.toys import TOYS
from mechcirc.errors import UsageError


def _loop_gradients(module, params, forward, divergence, inputs, references):
    """The reference: one autograd call per sample on the live module."""
    rows = []
    for i in range(len(references)):
        loss = divergence(forward(module, i), references[i])
        rows.append(torch.autograd.grad(loss, params))
    return [torch.stack(g) for g in zip(*rows, strict=True)]


def test_toy_gradients_equal_a_loop(generator):
    spec = TOYS["squares"]
    model = spec.build(seed=0)
    target = VectorTarget(select_parameters(model), spec.sample)
    x = target.sample(generator, 64)
    x[0] = 0.0  # an all-zero input is a legitimate sample too
    refs = reference_outputs(target, x, generator)
    fast = per_sample_gradients(target, x, refs)
    params = [e.tensor for e in target.group.entries]
    slow = _loop_gradients(model, params, lambda m, i: m(x[i : i + 1])[0], mse_divergence, x, refs)
    for name, expected in zip(target.group.names, slow, strict=True):
        torch.testing.assert_close(fast[name], expected, atol=1e-5, rtol=1e-5)


def test_transformer_gradients_equal_a_loop(attention_target, generator):
    target = attention_target
    model = target.group.module
    inputs = target.sample(generator, 6)
    refs = reference_outputs(target, inputs, generator)
    fast = per_sample_gradients(target, inputs, refs)
    params = [e.tensor for e in target.group.entries]
    with torch.enable_grad():
        for p in params:
            p.requires_grad_(True)
        slow = _loop_gradients(
            model,
            params,
            lambda m, i: m(inputs["tokens"][i : i + 1])[0, -1],  # read position = last
            kl_divergence,
            inputs,
            refs,
        )
    assert max(g.abs().max() for g in slow) > 1e-4  # the check is not vacuous
    for name, expected in zip(target.group.names, slow, strict=True):
        torch.testing.assert_close(fast[name], expected, atol=1e-5, rtol=1e-5)


def test_read_position_selects_the_logits(tiny):
    model = tiny("gpt-neox")
    tokens = torch.randint(1000, (3, 6), generator=torch.Generator().manual_seed(1))
    read = torch.tensor([5, 2, 0])
    target = TokenTarget(select_parameters(model, "blocks.1.mlp.*"), tokens, read)
    sample = target.sample(torch.Generator().manual_seed(0), 3)
    rows = sample["row"]
    expected = model(tokens[rows])[torch.arange(3), read[rows]]
    from mechcirc.analyses.l3d.gradients import batch_outputs

    torch.testing.assert_close(batch_outputs(target, target.group.values(), sample), expected)


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
    with pytest.raises(UsageError, match="at least 2 sequences"):
        TokenTarget(group, torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, dtype=torch.long))
