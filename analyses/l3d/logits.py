"""Most-affected logits: which next tokens a subnetwork moves at a sample, as in the paper.

For subnetwork k and a text sample (its tokens up to a position), the tokens with the largest
``|d softmax(f(x, W + delta v_k))_t / d delta|`` at ``delta = 0``: one forward-mode derivative
(``torch.func.jvp``) of the next-token distribution along ``V_out[k]``.

Example:
    >>> top = most_affected_logits(target, subnets, k=3, row=12, position=7)  # doctest: +SKIP
    >>> [entry["token"] for entry in top]  # doctest: +SKIP
    [' day', ' side', ' night', ' morning', ' week']
"""

from __future__ import annotations

import torch
from torch.func import jvp

from mechcirc.analyses.l3d.subnetworks import Subnetworks

__all__ = ["annotate_top_logits", "most_affected_logits"]


def probability_tangent(target, direction: dict, row: int, position: int) -> torch.Tensor:
    """``d softmax(logits at position) / d delta`` along ``direction``, ``[d_vocab]``."""
    values = target.group.values()
    tokens = target.tokens[row, : position + 1]

    def probabilities(delta: torch.Tensor) -> torch.Tensor:
        shifted = {n: v + delta * direction[n].to(v.device) for n, v in values.items()}
        return target.logits_one(shifted, tokens)[-1].softmax(-1)

    zero = torch.zeros((), device=tokens.device)
    return jvp(probabilities, (zero,), (torch.ones_like(zero),))[1]


@torch.no_grad()
def most_affected_logits(
    target, subnetworks: Subnetworks, k: int, row: int, position: int, n: int = 5
) -> list[dict]:
    """The ``n`` tokens whose probability subnetwork ``k`` moves most at ``(row, position)``."""
    tangent = probability_tangent(target, subnetworks.direction(k), row, position)
    values, ids = tangent.abs().topk(min(n, len(tangent)))
    decode = target.tokenizer.decode if target.tokenizer is not None else str
    return [
        {"token_id": int(t), "token": decode([int(t)]), "dprob": float(tangent[t])}
        for t, _ in zip(ids.tolist(), values.tolist(), strict=True)
    ]


def annotate_top_logits(
    target, subnetworks: Subnetworks, top: dict[str, list[dict]], n: int = 5
) -> dict[str, list[dict]]:
    """Add ``top_logits`` to every (text) sample of :func:`~.evaluation.top_samples`."""
    for k, samples in top.items():
        for sample in samples:
            sample["top_logits"] = most_affected_logits(
                target, subnetworks, int(k), sample["row"], sample["position"], n
            )
    return top
