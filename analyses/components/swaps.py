"""IOI prompts with the subject's token or position swapped (the S-inhibition tests).

Wang et al. (2022) and Tigges et al. (2024, Sec. 4.1) confirm S-inhibition heads by patching
their output from prompts where the signal they carry changes. On a clean prompt ``A .. B .. B``
(IO, S1, S2), with names at single-token positions:

- position swap (``ABB -> BAB``, "token same, position opposite"): IO and S1 trade places, so
  the repeated name is the same token but its first mention moves;
- token swap (``ABB -> BAA``, "token opposite, position same"): every name flips, so the
  repeated name is the other token at the same positions.

Example:
    >>> swapped = position_swap(pairs.clean, pairs.positions)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from jaxtyping import Int
from torch import Tensor

__all__ = ["SWAPS", "position_swap", "token_swap"]


def _names(tokens: Tensor, positions: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    rows = torch.arange(len(tokens), device=tokens.device)
    return rows, tokens[rows, positions["io"]], tokens[rows, positions["s1"]]


def position_swap(
    tokens: Int[Tensor, "batch pos"], positions: Mapping[str, Int[Tensor, " batch"]]
) -> Int[Tensor, "batch pos"]:
    """``A .. B .. B`` -> ``B .. A .. B``: IO and S1 swap places, S2 stays."""
    rows, io, s = _names(tokens, positions)
    out = tokens.clone()
    out[rows, positions["io"]] = s
    out[rows, positions["s1"]] = io
    return out


def token_swap(
    tokens: Int[Tensor, "batch pos"], positions: Mapping[str, Int[Tensor, " batch"]]
) -> Int[Tensor, "batch pos"]:
    """``A .. B .. B`` -> ``B .. A .. A``: the two names trade every occurrence."""
    rows, io, s = _names(tokens, positions)
    out = position_swap(tokens, positions)
    out[rows, positions["s2"]] = io
    return out


SWAPS = {"position": position_swap, "token": token_swap}
