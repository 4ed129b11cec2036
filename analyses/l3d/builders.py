"""Targets the CLI and examples start from: a trained toy, or a language model on token data.

Token data for a language model, in order of preference: a prompt-pair task's clean prompts read
at the answer position (``task="ioi"``), windows of a text file, or random tokens (enough to
exercise the machinery on tiny random models; not meaningful on trained models).

Example:
    >>> target, model = toy_target("tms", seed=0, toy_steps=200)  # doctest: +SKIP
    >>> data = random_tokens(bridge, 64, 12)                        # doctest: +SKIP
    >>> target = token_target(bridge, "blocks.0.attn.*", data)      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from mechcirc.analyses.l3d.parameters import select_parameters
from mechcirc.analyses.l3d.targets import TokenTarget, VectorTarget
from mechcirc.analyses.l3d.toys import get_toy, train_toy
from mechcirc.errors import UsageError


def toy_target(
    name: str,
    patterns: str = "*",
    seed: int = 0,
    toy_steps: int = 5000,
    weights: str | Path | None = None,
) -> tuple[VectorTarget, nn.Module]:
    """Train toy ``name``, or load it from ``weights`` if that file exists (else save it there)."""
    spec = get_toy(name)
    if weights is not None and Path(weights).is_file():
        model = spec.build(seed)
        model.load_state_dict(load_file(str(weights)))
        model.eval().requires_grad_(False)
    else:
        model = train_toy(spec, seed=seed, steps=toy_steps)
        if weights is not None:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return VectorTarget(select_parameters(model, patterns), spec.sample), model


def random_tokens(model, n: int, seq_len: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` random sequences of ``seq_len`` tokens, read at the last position."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(model.cfg.d_vocab, (n, seq_len), generator=generator)
    return tokens, torch.full((n,), seq_len - 1)


def text_tokens(model, path: str | Path, n: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """Up to ``n`` consecutive ``seq_len``-token windows of a text file, read at the last token."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"text file not found: {path}")
    ids = model.tokenizer(path.read_text(), return_tensors="pt")["input_ids"][0]
    n_windows = min(n, len(ids) // seq_len)
    if n_windows < 2:
        raise UsageError(
            f"{path} has {len(ids)} tokens: need at least 2 windows of {seq_len} (--seq-len)"
        )
    tokens = ids[: n_windows * seq_len].view(n_windows, seq_len)
    return tokens, torch.full((n_windows,), seq_len - 1)


def task_tokens(model, task: str, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Clean prompts of a prompt-pair task (or EAP-IG CSV), read at each answer position."""
    from mechcirc.tasks import load_pairs

    pairs = load_pairs(task, model.tokenizer, n=n, seed=seed)
    return pairs.clean, pairs.answer_pos


def token_target(model, patterns: str, data: tuple[Tensor, Tensor]) -> TokenTarget:
    """A KL target over ``model``'s parameters matching ``patterns``, on ``(tokens, read_pos)``."""
    device = next(model.parameters()).device
    tokens, read = data
    return TokenTarget(
        select_parameters(model, patterns),
        tokens.to(device),
        read.to(device),
        tokenizer=getattr(model, "tokenizer", None),
    )
