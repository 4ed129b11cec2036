"""Validity checks shared by the prompt-pair task tests."""

from __future__ import annotations

import torch

from mechcirc.tasks.pairs import PromptPairs


def rows(pairs: PromptPairs):
    """Per example: unpadded clean ids, corrupted ids, correct set, incorrect set, positions."""
    for i, length in enumerate(pairs.attention_mask.sum(-1).tolist()):
        yield (
            pairs.clean[i, :length].tolist(),
            pairs.corrupted[i, :length].tolist(),
            [t for t in pairs.correct[i].tolist() if t >= 0],
            [t for t in pairs.incorrect[i].tolist() if t >= 0],
            {name: int(pos[i]) for name, pos in pairs.positions.items()},
        )


def assert_valid_pairs(pairs: PromptPairs, tokenizer, changed: str, n: int) -> None:
    """``n`` distinct pairs, BOS first, equal lengths, differing only at ``positions[changed]``,
    answers real single-token ids (disjoint sets), ``end`` the last real token."""
    assert len(pairs) == n
    # Right padding: the mask is a prefix of ones in every row.
    lengths = pairs.attention_mask.sum(-1)
    assert torch.equal(
        pairs.attention_mask, (torch.arange(pairs.clean.shape[1]) < lengths[:, None]).long()
    )
    distinct = {(tuple(c), tuple(x)) for c, x, *_ in rows(pairs)}
    assert len(distinct) == n
    vocab = len(tokenizer)
    for clean, corrupted, correct, incorrect, positions in rows(pairs):
        assert clean[0] == tokenizer.bos_token_id and corrupted[0] == tokenizer.bos_token_id
        differ = [i for i, (a, b) in enumerate(zip(clean, corrupted, strict=True)) if a != b]
        assert differ == [positions[changed]]
        assert positions["end"] == len(clean) - 1
        assert correct and incorrect and not set(correct) & set(incorrect)
        assert all(0 <= t < vocab for t in correct + incorrect)
