"""Train the micro-Pythia and write it in the shipped format (``mechcirc models train-micro``).

One Adam run with the project's ``Trainer`` over the corpus (warmup, then a cosine decay of
the learning rate, as Pythia); the weights are taken at every checkpoint step of the schedule
and written with ``mechcirc.models.micro_pythia.save_checkpoints`` (int8 rows, float16
vectors). Deterministic: the same config on a CPU with
one thread gives the same bytes, which ``compare_with_shipped`` checks.

Example:
    >>> trained = train_micro_pythia(MicroPythiaConfig(), "runs/micro", until=50)  # doctest: +SKIP
    >>> compare_with_shipped(trained.checkpoints)                                 # doctest: +SKIP
    []
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from mechcirc.analyses.micro_pythia.config import MicroPythiaConfig
from mechcirc.analyses.micro_pythia.corpus import build_corpus, sample_text
from mechcirc.analyses.micro_pythia.model import causal_lm_logits, compact_model
from mechcirc.models.micro_pythia import encode_state, load_stored, save_checkpoints
from mechcirc.models.micro_spec import TEXT_FILE, MicroPythiaSpec, load_spec, shipped_folder
from mechcirc.models.tokenizers import pythia_tokenizer
from mechcirc.training import METRICS_FILE, TrainConfig, Trainer

__all__ = [
    "EVAL_BATCH_SIZE",
    "TrainedMicroPythia",
    "compare_with_shipped",
    "snapshot",
    "train_micro_pythia",
    "trainer_config",
]

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 250


@dataclass(frozen=True)
class TrainedMicroPythia:
    """What a training run produced: the spec, the compact checkpoints and the metrics log."""

    spec: MicroPythiaSpec
    checkpoints: dict[int, dict[str, Tensor]]
    metrics: pd.DataFrame
    seconds: float


def trainer_config(config: MicroPythiaConfig, progress: bool = True) -> TrainConfig:
    """The ``Trainer`` settings of the recipe: Adam, warmup, mini-batches, evaluation only at
    checkpoints (on the first ``eval_limit`` rows of each split)."""
    last = config.steps[-1]
    return TrainConfig(
        steps=last,
        lr=config.lr,
        optimizer="adam",
        betas=config.betas,
        batch_size=config.batch_size,
        warmup_steps=config.warmup_steps,
        decay="cosine",
        min_lr_ratio=config.min_lr_ratio,
        eval_every=last + 1,
        seed=config.seed,
        progress=progress,
        eval_limit=config.eval_limit,
        eval_batch_size=EVAL_BATCH_SIZE,
    )


def snapshot(model: torch.nn.Module) -> dict[str, Tensor]:
    """A copy of the model's state dict."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def train_micro_pythia(
    config: MicroPythiaConfig | None = None,
    out: str | Path | None = None,
    *,
    until: int | None = None,
    progress: bool = True,
) -> TrainedMicroPythia:
    """Build the corpus, train, and keep the checkpoints of ``config.schedule(until)``.

    With ``out`` the checkpoints, spec (``micro-pythia.json``), ``metrics.parquet`` and the
    held-out text sample (``text.txt``, :func:`sample_text`) are written there;
    ``mechcirc/data/micro-pythia`` is the shipped folder.
    """
    config = config or MicroPythiaConfig()
    started = time.perf_counter()
    corpus = build_corpus(config, pythia_tokenizer())
    log.info(
        "corpus: %d rows, %d tokens in the vocabulary", len(corpus.rows), len(corpus.token_ids)
    )
    model = compact_model(config, len(corpus.token_ids))
    trainer = Trainer(
        model, corpus.split, trainer_config(config, progress), logits_fn=causal_lm_logits
    )
    checkpoints = {}
    for step in config.schedule(until):
        trainer.fit(step)
        checkpoints[step] = snapshot(model)
    spec = MicroPythiaSpec(
        shape=config.shape,
        token_ids=corpus.token_ids,
        steps=tuple(checkpoints),
        reserved_dim=config.reserved_dim,
        unused_logit=config.unused_logit,
        training={**config.to_dict(), "tokens_per_step": _tokens_per_step(config, corpus)},
    )
    metrics = trainer.metrics()
    if out is not None:
        spec = save_checkpoints(out, spec, checkpoints)
        metrics.to_parquet(Path(out) / METRICS_FILE, index=False)
        (Path(out) / TEXT_FILE).write_text(sample_text(config, pythia_tokenizer()), "utf-8")
    return TrainedMicroPythia(spec, checkpoints, metrics, time.perf_counter() - started)


def _tokens_per_step(config: MicroPythiaConfig, corpus) -> int:
    """Trained (labelled) tokens per optimizer step, on average: sweeps' ``tokens`` column."""
    labels = corpus.split.train_labels
    return round(config.batch_size * int((labels >= 0).sum()) / labels.shape[0])


def compare_with_shipped(
    checkpoints: dict[int, dict[str, Tensor]], folder: str | Path | None = None
) -> list[str]:
    """Names (``step{N}/<tensor>``) of stored tensors that differ from the shipped checkpoints;
    a step the shipped model lacks is reported as ``step{N}`` (empty list: bit-identical)."""
    folder = folder or shipped_folder()
    shipped_steps = load_spec(folder).steps
    different = []
    for step, state in checkpoints.items():
        if step not in shipped_steps:
            different.append(f"step{step}")
            continue
        shipped = load_stored(step, folder)
        mine = encode_state(state)
        for name in sorted(set(mine) | set(shipped)):
            if not _identical(mine.get(name), shipped.get(name)):
                different.append(f"step{step}/{name}")
    return different


def _identical(a: Tensor | None, b: Tensor | None) -> bool:
    return a is not None and b is not None and a.dtype == b.dtype and torch.equal(a, b)
