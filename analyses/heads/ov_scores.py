"""Copy and successor scores: what a head's OV circuit does to a token it attends to.

Both read each token's layer-0 representation (``layer0_representation``: embedding, attention
0 on itself, MLP 0), pass it through the head's OV circuit (``ln1``, ``W_V``, ``W_O``) and
unembed it (``ln_final``, ``W_U``), as if the head attended only to that token.

- Copy score (Wang et al. 2022, used by Tigges et al. 2024 for name movers): the fraction of
  tokens (IOI names by default) that are among the top ``k = 5`` of all ``d_vocab`` logits.
- Successor score (Gould et al. 2024, "succession score" in Tigges et al.): over ordinal
  sequences (numbers, number words, days, months, letters), the fraction of members whose
  successor is the top-``k`` (default 1) logit *among the tokens of that sequence*.

Ranks are pessimistic: a tie with the target counts against it, so a head that writes nothing
scores 0, never "in the top 5 by tie-breaking".

Example:
    >>> copy = copy_scores(model)               # doctest: +SKIP
    >>> copy.values.shape                        # [n_layers, n_heads], values in [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.analyses.heads.result import HeadScore
from mechcirc.analyses.heads.weights import head_ov_logits, layer0_representation, pessimistic_rank
from mechcirc.errors import UsageError

ORDINAL_WORDS: dict[str, tuple[str, ...]] = {
    "numbers": tuple(f" {i}" for i in range(1, 31)),
    "number_words": (
        " one",
        " two",
        " three",
        " four",
        " five",
        " six",
        " seven",
        " eight",
        " nine",
        " ten",
    ),
    "days": (" Monday", " Tuesday", " Wednesday", " Thursday", " Friday", " Saturday", " Sunday"),
    "months": (
        " January",
        " February",
        " March",
        " April",
        " May",
        " June",
        " July",
        " August",
        " September",
        " October",
        " November",
        " December",
    ),
    "letters": tuple(f" {chr(c)}" for c in range(ord("A"), ord("Z") + 1)),
}


def _tokenizer(model):
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise UsageError("this model has no tokenizer: pass the token ids to score explicitly")
    return tokenizer


def ioi_name_tokens(model) -> Int[Tensor, " n"]:
    """The IOI task's names that are single tokens (with a leading space) for this model."""
    from mechcirc.tasks.ioi import NAMES
    from mechcirc.tasks.tokens import single_token_words

    found = single_token_words(_tokenizer(model), [" " + name for name in NAMES])
    return torch.tensor(sorted(set(found.values())))


def ordinal_sequences(model) -> list[Int[Tensor, " m"]]:
    """``ORDINAL_WORDS`` as token ids: maximal runs of consecutive single-token members (>= 3)."""
    from mechcirc.tasks.tokens import word_token

    tokenizer = _tokenizer(model)
    runs: list[list[int]] = []
    for words in ORDINAL_WORDS.values():
        run: list[int] = []
        for word in [*words, None]:
            token = None if word is None else word_token(tokenizer, word)
            if token is None:
                if len(run) >= 3:
                    runs.append(run)
                run = []
            else:
                run.append(token)
    return [torch.tensor(run) for run in runs]


def _check_tokens(model, tokens: Tensor, what: str) -> None:
    if tokens.ndim != 1 or tokens.numel() == 0:
        raise UsageError(
            f"{what} must be a non-empty 1-d tensor of token ids, got {tuple(tokens.shape)}"
        )
    if int(tokens.min()) < 0 or int(tokens.max()) >= model.cfg.d_vocab:
        raise UsageError(f"{what} must be token ids in 0..{model.cfg.d_vocab - 1}")


def _check_k(k: int) -> None:
    if k < 1:
        raise UsageError(f"k must be a positive integer, got {k}")


@torch.no_grad()
def copy_scores(model, tokens: Int[Tensor, " n"] | None = None, *, k: int = 5) -> HeadScore:
    """Fraction of ``tokens`` (default: IOI names) each head's OV puts in its top-``k`` logits."""
    _check_k(k)
    tokens = ioi_name_tokens(model) if tokens is None else tokens
    _check_tokens(model, tokens, "tokens")
    tokens = tokens.to(model.W_U.device)
    resid = layer0_representation(model, tokens)
    values = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        logits = head_ov_logits(model, layer, resid)  # [n, heads, vocab]
        for head in range(model.cfg.n_heads):
            hits = pessimistic_rank(logits[:, head], tokens) < k
            values[layer, head] = hits.float().mean().cpu()
    return HeadScore("copy", values, {"tokens": tokens.cpu()}, {"k": k})


@torch.no_grad()
def successor_scores(
    model, sequences: Sequence[Int[Tensor, " m"]] | None = None, *, k: int = 1
) -> HeadScore:
    """Fraction of sequence members whose successor is each head's top-``k`` among the sequence."""
    _check_k(k)
    sequences = ordinal_sequences(model) if sequences is None else list(sequences)
    if not sequences or any(len(seq) < 2 for seq in sequences):
        raise UsageError("successor scores need sequences of at least 2 token ids each")
    for seq in sequences:
        _check_tokens(model, seq, "each sequence")
    device = model.W_U.device
    hits = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    total = 0
    for seq in sequences:
        seq = seq.to(device)
        resid = layer0_representation(model, seq[:-1])
        successor = torch.arange(1, len(seq), device=device)  # index within the sequence
        for layer in range(model.cfg.n_layers):
            logits = head_ov_logits(model, layer, resid)[..., seq]  # [m-1, heads, m]
            for head in range(model.cfg.n_heads):
                ranks = pessimistic_rank(logits[:, head], successor)
                hits[layer, head] += (ranks < k).sum().cpu()
        total += len(seq) - 1
    inputs = {f"sequence_{i}": seq.cpu() for i, seq in enumerate(sequences)}
    return HeadScore("successor", hits / total, inputs, {"k": k, "n_sequences": len(sequences)})
