"""The micro-Pythia's synthetic corpus, built from the project's task generators.

Each task example becomes one training row: the generator's clean prompt (which starts with the
tokenizer's BOS token, as the prompt pairs do) followed by one of its correct answers, drawn
uniformly (greater-than: a later two-digit year; subject-verb agreement: an agreeing verb).
Induction rows are ``[BOS] r r`` with ``r`` a random sequence of corpus tokens. Rows are
shuffled and right-padded; labels are the next token, ``IGNORE_INDEX`` on padding.

The vocabulary is every token id the generated pairs use (clean and corrupted prompts, correct
and incorrect answers), sorted; the model is trained on those ids remapped to ``0..n-1``.

Example:
    >>> corpus = build_corpus(MicroPythiaConfig(), pythia_tokenizer())     # doctest: +SKIP
    >>> corpus.split.train_inputs.shape, len(corpus.token_ids)             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc import tasks
from mechcirc.analyses.micro_pythia.config import MicroPythiaConfig
from mechcirc.errors import UsageError
from mechcirc.tasks import PromptPairs, TrainTestSplit
from mechcirc.training import IGNORE_INDEX

__all__ = [
    "Corpus",
    "INDUCTION",
    "TEXT_SEED",
    "TRAINING_OPTIONS",
    "answered_rows",
    "build_corpus",
    "induction_rows",
    "padded_rows",
    "pair_token_ids",
    "sample_text",
]

log = logging.getLogger(__name__)

INDUCTION = "induction"
# Seed of the shipped text sample (``mechcirc/data/micro-pythia/text.txt``): generators seeded
# apart from the training corpus (``corpus_seed`` 1000 + k), so its sentences are held out.
TEXT_SEED = 7000
# Generator options of the training rows: agreement is trained on three of Marvin & Linzen's
# constructions (the shipped weights' recipe); the sentential, subject-relative and
# within-relative ones are never seen in training, so evaluating on "all" tests generalisation.
TRAINING_OPTIONS = {"subject-verb-agreement": {"structure": "simple,prepositional,relative"}}


@dataclass(frozen=True)
class Corpus:
    """Token rows in the full vocabulary, the used vocabulary and the remapped train/test split."""

    rows: list[list[int]]
    parts: list[str]  # the part each row came from
    token_ids: tuple[int, ...]
    split: TrainTestSplit


def answered_rows(pairs: PromptPairs, rng: random.Random) -> list[list[int]]:
    """Each clean prompt followed by one of its correct answers, drawn with ``rng``."""
    rows = []
    for i in range(len(pairs)):
        prompt = pairs.clean[i][pairs.attention_mask[i].bool()].tolist()
        answers = [a for a in pairs.correct[i].tolist() if a >= 0]
        rows.append(prompt + [rng.choice(answers)])
    return rows


def pair_token_ids(pairs: PromptPairs) -> set[int]:
    """Every id the pairs use: prompts (clean and corrupted, unpadded) and answer sets."""
    mask = pairs.attention_mask.bool()
    ids = set(pairs.clean[mask].tolist()) | set(pairs.corrupted[mask].tolist())
    for answers in (pairs.correct, pairs.incorrect):
        ids |= set(answers[answers >= 0].tolist())
    return ids


def induction_rows(
    pool: list[int], n: int, half_len: tuple[int, int], bos: int, rng: random.Random
) -> list[list[int]]:
    """``n`` rows ``[bos] r r``, ``len(r)`` uniform in ``half_len`` (inclusive), ``r`` from
    ``pool``."""
    rows = []
    for _ in range(n):
        half = [rng.choice(pool) for _ in range(rng.randint(*half_len))]
        rows.append([bos, *half, *half])
    return rows


def padded_rows(
    rows: list[list[int]], remap: dict[int, int], pad: int
) -> tuple[Int[Tensor, "n seq"], Int[Tensor, "n seq"]]:
    """Inputs (remapped ids, right-padded with ``pad``) and next-token labels."""
    width = max(map(len, rows))
    inputs = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for i, row in enumerate(rows):
        ids = torch.tensor([remap[t] for t in row], dtype=torch.long)
        inputs[i, : len(row)] = ids
        labels[i, : len(row) - 1] = ids[1:]
    return inputs, labels


def build_corpus(config: MicroPythiaConfig, tokenizer) -> Corpus:
    """The corpus of ``config`` (deterministic in ``config.corpus_seed``)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        raise UsageError("the micro-Pythia corpus needs a tokenizer with a BOS token")
    rows: list[list[int]] = []
    parts: list[str] = []
    vocabulary = {bos}
    for k, (part, n) in enumerate(config.mix):
        if part == INDUCTION:
            continue
        options = TRAINING_OPTIONS.get(part, {})
        pairs = tasks.get(part).generate(tokenizer, n=n, seed=config.corpus_seed + k, **options)
        part_rows = answered_rows(pairs, random.Random(config.corpus_seed + k))
        rows += part_rows
        parts += [part] * len(part_rows)
        vocabulary |= pair_token_ids(pairs)
        log.info("corpus: %d %s rows", n, part)
    token_ids = tuple(sorted(vocabulary))
    pool = [t for t in token_ids if t != bos]
    for k, (part, n) in enumerate(config.mix):
        if part == INDUCTION:
            rng = random.Random(config.corpus_seed + k)
            rows += induction_rows(pool, n, config.induction_half_len, bos, rng)
            parts += [INDUCTION] * n
    order = list(range(len(rows)))
    random.Random(config.corpus_seed).shuffle(order)
    rows, parts = [rows[i] for i in order], [parts[i] for i in order]
    remap = {token: i for i, token in enumerate(token_ids)}
    inputs, labels = padded_rows(rows, remap, pad=remap[bos])
    n_test = config.n_test
    split = TrainTestSplit(
        inputs[n_test:],
        labels[n_test:],
        inputs[:n_test],
        labels[:n_test],
        d_vocab=len(token_ids),
        n_classes=len(token_ids),
        meta={"corpus": "micro-pythia", "corpus_seed": config.corpus_seed, "rows": len(rows)},
    )
    return Corpus(rows, parts, token_ids, split)


def sample_text(
    config: MicroPythiaConfig, tokenizer, *, per_part: int = 100, seed: int = TEXT_SEED
) -> str:
    """Held-out text from the micro-Pythia's training distribution: the corpus's task parts
    (``n // per_part`` rows of each, generated with ``seed`` instead of ``corpus_seed``; the
    random-token induction rows are left out), shuffled, each row starting with BOS; rows
    whose text would tokenize to other ids than the corpus's are dropped.

    It is the micro-Pythia's "natural text", what OpenWebText is to GPT-2: natural-text
    measures such as CSPA need text in the model's vocabulary (516 tokens here), which English
    prose is not. ``mechcirc/data/micro-pythia/text.txt`` is ``sample_text(MicroPythiaConfig(),
    pythia_tokenizer())``.

    Example:
        >>> text = sample_text(MicroPythiaConfig(), pythia_tokenizer())   # doctest: +SKIP
        >>> text[:40]                                                      # doctest: +SKIP
        '<|endoftext|>Then, Jane and Amy were thi'
    """
    mix = tuple((part, n // per_part) for part, n in config.mix if part != INDUCTION)
    if not any(n for _, n in mix):
        raise UsageError(f"per_part={per_part} leaves no rows of the mix {config.mix}")
    held_out = replace(config, corpus_seed=seed, mix=mix, n_test=0)
    rows = build_corpus(held_out, tokenizer).rows
    # Only rows whose text tokenizes back to their ids (a few greater-than years split
    # differently once their answer is joined on), so the text stays in the model's vocabulary.
    texts = (tokenizer.decode(row) for row in rows)
    return "".join(
        text
        for row, text in zip(rows, texts, strict=True)
        if tokenizer.encode(text, add_special_tokens=False) == row
    )
