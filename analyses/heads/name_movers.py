"""The name-mover test on IOI prompts (Wang et al. 2022; Tigges et al. 2024).

A name mover copies the indirect object (IO) from its position to the final token: it has a
high copy score on the names and, at the final position, attends to the IO more than to the
subject. On ``PromptPairs`` with ``positions["io"|"s1"|"s2"|"end"]`` (the IOI task's), over
the clean prompts (table names in brackets):

- ``attn_io`` (``nm_attn_io``): mean attention from ``end`` to ``io``;
- ``attn_s`` (``nm_attn_s``): mean attention from ``end`` to ``s1`` plus ``s2``;
- ``name_mover``: ``attn_io - attn_s`` (in [-1, 1]);
- ``copy`` (``nm_copy``): the copy score (top-5) on the names that occur as IO or S here.

Example:
    >>> pairs = mechcirc.tasks.get("ioi").generate(model.tokenizer, 32, seed=0)  # doctest: +SKIP
    >>> scores = name_mover_scores(model, pairs)
    >>> scores["name_mover"].top(3)
"""

from __future__ import annotations

import torch
from torch import Tensor

from mechcirc.analyses.heads.ov_scores import copy_scores
from mechcirc.analyses.heads.result import HeadScore
from mechcirc.errors import UsageError
from mechcirc.tasks.pairs import PromptPairs

NEEDED_POSITIONS = ("io", "s1", "s2", "end")


def _check_positions(pairs: PromptPairs) -> None:
    missing = [name for name in NEEDED_POSITIONS if name not in pairs.positions]
    if missing:
        raise UsageError(
            f"name-mover scores need positions {NEEDED_POSITIONS} (the IOI task's); "
            f"these pairs lack {missing} (have {sorted(pairs.positions)})"
        )


def _name_tokens(pairs: PromptPairs) -> Tensor:
    rows = torch.arange(len(pairs))
    names = torch.cat([pairs.clean[rows, pairs.positions[p]] for p in ("io", "s1")])
    return names.unique()


@torch.no_grad()
def name_mover_scores(
    model, pairs: PromptPairs, *, k: int = 5, batch_size: int = 32
) -> dict[str, HeadScore]:
    """``attn_io``, ``attn_s``, ``name_mover`` and ``copy`` scores of every head (see module)."""
    _check_positions(pairs)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    totals = {key: torch.zeros(n_layers, n_heads, dtype=torch.float64) for key in ("io", "s")}
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(n_layers)]
    device = model.W_U.device
    for batch in pairs.batches(batch_size):
        _, cache = model.run_with_cache(
            batch.clean.to(device), names_filter=lambda name: name in names
        )
        rows = torch.arange(len(batch), device=device)
        pos = {key: value.to(device) for key, value in batch.positions.items()}
        for layer, hook_name in enumerate(names):
            from_end = cache[hook_name][rows, :, pos["end"]]  # [b, head, k]
            io = from_end[rows, :, pos["io"]]
            s = from_end[rows, :, pos["s1"]] + from_end[rows, :, pos["s2"]]
            totals["io"][layer] += io.double().sum(0).cpu()
            totals["s"][layer] += s.double().sum(0).cpu()
    inputs = {"clean": pairs.clean, **{f"pos_{k}": v for k, v in pairs.positions.items()}}
    attn_io = (totals["io"] / len(pairs)).float()
    attn_s = (totals["s"] / len(pairs)).float()
    copy = copy_scores(model, _name_tokens(pairs), k=k)
    config = {"task": pairs.task, "n_prompts": len(pairs)}
    return {
        "name_mover": HeadScore("name_mover", attn_io - attn_s, inputs, config),
        "attn_io": HeadScore("nm_attn_io", attn_io, inputs, config),
        "attn_s": HeadScore("nm_attn_s", attn_s, inputs, config),
        "copy": HeadScore("nm_copy", copy.values, copy.inputs, copy.config),
    }
