"""Each task's metric on hand-made logits with known answers, read at the last real token."""

from __future__ import annotations

import pytest
import torch

from mechcirc import tasks


def _logits(pairs, fill: float = 0.0) -> torch.Tensor:
    """Logits over the pairs' full padded width; padding columns get a decoy value."""
    vocab = int(max(pairs.clean.max(), pairs.correct.max(), pairs.incorrect.max())) + 1
    return torch.full((len(pairs), pairs.clean.shape[1], vocab), fill)


def _set(logits, pairs, row, token, value):
    logits[row, int(pairs.answer_pos[row]), token] = value


@pytest.mark.parametrize("name", ["ioi", "gendered-pronoun", "subject-verb-agreement"])
def test_logit_diff_sign_and_value(pythia_tok, name):
    # subject-verb agreement defaults to the paper's prob_diff; logit_diff is its option
    options = {"metric": "logit_diff"} if name == "subject-verb-agreement" else {}
    pairs = tasks.get(name).generate(pythia_tok, n=6, seed=0, **options)
    logits = _logits(pairs)
    expected = []
    for row in range(len(pairs)):
        good = [t for t in pairs.correct[row].tolist() if t >= 0]
        bad = [t for t in pairs.incorrect[row].tolist() if t >= 0]
        sign = 1.0 if row % 2 == 0 else -1.0
        for t in good:
            _set(logits, pairs, row, t, 2.0 * sign)
        for t in bad:
            _set(logits, pairs, row, t, -1.0 * sign)
        expected.append(3.0 * sign)
        # A decoy after the answer position (padding, or nothing) must not be read.
        logits[row, int(pairs.answer_pos[row]) + 1 :, good] = -50.0
    assert torch.allclose(pairs.evaluate(logits), torch.tensor(expected))


def test_logit_diff_averages_verb_groups(pythia_tok):
    pairs = tasks.get("subject-verb-agreement").generate(
        pythia_tok, n=1, seed=0, metric="logit_diff"
    )
    good = [t for t in pairs.correct[0].tolist() if t >= 0]
    logits = _logits(pairs)
    _set(logits, pairs, 0, good[0], float(len(good)))  # mean over the group = 1
    assert torch.allclose(pairs.evaluate(logits), torch.tensor([1.0]))


def test_greater_than_probability_mass(gpt2_tok):
    pairs = tasks.get("greater-than").generate(gpt2_tok, n=8, seed=0)
    years = [gpt2_tok.encode(f"{yy:02d}", add_special_tokens=False)[0] for yy in range(100)]
    start = [
        years.index(int(pairs.clean[i, int(pairs.positions["yy"][i])])) for i in range(len(pairs))
    ]
    # Uniform over the hundred year tokens, nothing elsewhere: (99 - YY)/100 - (YY + 1)/100.
    logits = _logits(pairs, fill=-1e4)
    for row in range(len(pairs)):
        for token in years:
            _set(logits, pairs, row, token, 0.0)
    expected = torch.tensor([(98 - 2 * yy) / 100 for yy in start])
    assert torch.allclose(pairs.evaluate(logits), expected, atol=1e-5)
    # All mass on YY + 1 -> +1; all mass on YY -> -1.
    for offset, value in ((1, 1.0), (0, -1.0)):
        logits = _logits(pairs, fill=-1e4)
        for row, yy in enumerate(start):
            _set(logits, pairs, row, years[yy + offset], 0.0)
        assert torch.allclose(pairs.evaluate(logits), torch.full((len(pairs),), value), atol=1e-5)
