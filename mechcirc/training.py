"""A small, resumable trainer for the toy models: full- or mini-batch Adam/AdamW.

Labels are one class per example (``[n]``, logits ``[batch, classes]``) or one token per
position (``[n, seq]``, logits ``[batch, seq, vocab]``: next-token language modelling), where
``IGNORE_INDEX`` (-100) marks positions that carry no loss (padding).

Per step it does only forward, backward and the optimiser update (no hooks, no ``.item()``);
every ``eval_every`` steps it logs train/test loss and accuracy, the parameter norm and any
probe values into a metrics table. A checkpoint (:mod:`mechcirc.checkpoints`, the project's one
format) holds the weights, the optimiser state, the step, the train config, the data's
description and the metrics log in one ``.safetensors`` file, so a run stopped at any
checkpoint resumes bit-for-bit (mini-batches are a pure function of seed and step).

Example:
    >>> from mechcirc.tasks import MODULAR_ADDITION
    >>> from mechcirc.toys import grokking_model, last_position_logits
    >>> data = MODULAR_ADDITION.build(p=7, train_fraction=0.5)
    >>> trainer = Trainer(grokking_model(p=7), data, TrainConfig(steps=10, eval_every=5),
    ...                   logits_fn=last_position_logits)  # doctest: +SKIP
    >>> metrics = trainer.fit()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from mechcirc.checkpoints import load_checkpoint, save_checkpoint
from mechcirc.config import Config, require_in, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.parameters import trainable_parameters
from mechcirc.splits import TrainTestSplit
from mechcirc.tensorfiles import read_metadata
from mechcirc.toys.grokking import native_module

__all__ = [
    "CHECKPOINT_FILE",
    "IGNORE_INDEX",
    "METRICS_FILE",
    "LogitsFn",
    "Probe",
    "TrainConfig",
    "Trainer",
    "default_logits",
    "flat_logits_and_labels",
    "learning_rate",
    "load_parameters",
    "loss_and_accuracy",
    "parameter_norm",
    "resume_problem",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.parquet"  # the metrics table's usual name in a run folder
IGNORE_INDEX = -100  # a label that carries no loss (padding of token-level labels)
_FIRST_COLUMNS = ("step", "train_loss", "train_acc", "test_loss", "test_acc", "param_norm")

LogitsFn = Callable[[nn.Module, Int[Tensor, "batch seq"]], Float[Tensor, "batch classes"]]
Probe = Callable[["Trainer"], dict[str, float]]


@dataclass(frozen=True)
class TrainConfig(Config):
    """Optimisation settings; ``batch_size=None`` means full batch.

    ``warmup_steps``: the learning rate rises linearly over the first steps; then it stays
    (``decay="none"``) or follows a cosine from ``lr`` down to ``min_lr_ratio * lr`` at
    ``steps`` (``decay="cosine"``, as in Pythia). The rate is a function of the step alone, so
    a resumed run follows the same schedule.
    ``eval_limit``: evaluate on the first N examples of each split only; ``eval_batch_size``:
    evaluate in chunks of that many examples (memory); ``None``: everything in one pass.
    ``loss_dtype``: the precision of the softmax and loss (``float64`` for grokking, as Nanda
    et al.'s code; ``float32`` casts nothing for a float32 model).

    Example:
        >>> TrainConfig(steps=100, lr=1e-3).replace(weight_decay=1.0).weight_decay
        1.0
    """

    steps: int = 1000
    lr: float = 1e-3
    optimizer: Literal["adam", "adamw"] = "adamw"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int | None = None
    eval_every: int = 100
    checkpoint_every: int | None = None
    seed: int = 0
    progress: bool = True
    warmup_steps: int = 0
    decay: Literal["none", "cosine"] = "none"
    min_lr_ratio: float = 0.1
    eval_limit: int | None = None
    eval_batch_size: int | None = None
    loss_dtype: Literal["float32", "float64"] = "float32"

    def validate(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise UsageError(f"steps must be an integer >= 0, got {self.steps!r}")
        require_range("lr", self.lr, 0, low_open=True)
        require_range("weight_decay", self.weight_decay, 0)
        for index, beta in enumerate(self.betas):
            require_range(f"betas[{index}]", beta, 0, 1, high_open=True)
        require_positive_int("batch_size", self.batch_size, allow_none=True)
        require_positive_int("eval_every", self.eval_every)
        require_positive_int("checkpoint_every", self.checkpoint_every, allow_none=True)
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise UsageError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        require_range("warmup_steps", self.warmup_steps, 0)
        require_in("decay", self.decay, ("none", "cosine"))
        require_range("min_lr_ratio", self.min_lr_ratio, 0, 1)
        require_positive_int("eval_limit", self.eval_limit, allow_none=True)
        require_positive_int("eval_batch_size", self.eval_batch_size, allow_none=True)
        require_in("optimizer", self.optimizer, ("adam", "adamw"))
        require_in("loss_dtype", self.loss_dtype, ("float32", "float64"))

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy over the labels that are not ``IGNORE_INDEX``, the softmax
        computed in ``loss_dtype``."""
        logits, labels = flat_logits_and_labels(self.cast(logits), labels)
        return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)

    def cast(self, logits: Tensor) -> Tensor:
        """``logits`` in ``loss_dtype`` (the same tensor when it already is)."""
        return logits.to(getattr(torch, self.loss_dtype))


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of the update from ``step`` to ``step + 1`` (see ``TrainConfig``).

    >>> learning_rate(TrainConfig(lr=1.0, warmup_steps=4), 1)
    0.5
    """
    rate = config.lr
    if config.warmup_steps and step < config.warmup_steps:
        return rate * (step + 1) / config.warmup_steps
    if config.decay == "cosine":
        span = max(1, config.steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        floor = config.min_lr_ratio
        rate *= floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return rate


def default_logits(model: nn.Module, inputs: Tensor) -> Tensor:
    return model(inputs)


def flat_logits_and_labels(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``[batch, seq, vocab]`` / ``[batch, seq]`` to ``[batch * seq, vocab]`` / ``[batch * seq]``;
    class logits ``[batch, classes]`` / ``[batch]`` pass through."""
    if logits.ndim == 3:
        return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    return logits, labels


def loss_and_accuracy(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and accuracy over the labels that are not ``IGNORE_INDEX``.

    >>> loss_and_accuracy(torch.tensor([[[0.0, 5.0], [5.0, 0.0]]]), torch.tensor([[1, -100]]))[1]
    tensor(1.)
    """
    logits, labels = flat_logits_and_labels(logits, labels)
    keep = labels != IGNORE_INDEX
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    accuracy = (logits.argmax(-1) == labels)[keep].float().mean()
    return loss, accuracy


@torch.no_grad()
def parameter_norm(module: nn.Module) -> float:
    """L2 norm of all trainable parameters together."""
    return float(torch.sqrt(sum(p.pow(2).sum() for p in trainable_parameters(module))))


def resume_problem(path: str | Path, data: TrainTestSplit) -> str | None:
    """Why the checkpoint at ``path`` cannot continue on ``data`` (None: it can).

    Reads the file's header only, so a refused ``--resume`` is decided before anything is
    written.
    """
    path = Path(path)
    if not path.is_file():
        return f"no {path.name} in {path.parent}: train without --resume first"
    try:
        saved = read_metadata(path).get("metadata", {}).get("data")
    except Exception as err:  # a torn or foreign file
        return f"{path} is not a readable checkpoint ({err})"
    if saved is not None and saved != json.loads(json.dumps(data.meta)):
        return f"{path} was trained on {saved}, not on {data.meta}: resume with the same data"
    return None


@dataclass
class Trainer:
    """Train ``model`` on ``data`` under ``config``; ``fit()`` returns the metrics table.

    ``checkpoint``: the file written every ``config.checkpoint_every`` steps and at the end
    (pass ``run.file(CHECKPOINT_FILE)`` so the run's manifest lists it); None writes nothing.
    """

    model: nn.Module
    data: TrainTestSplit
    config: TrainConfig
    logits_fn: LogitsFn = default_logits
    checkpoint: str | Path | None = None
    probes: Sequence[Probe] = ()
    step: int = 0
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.module = native_module(self.model)
        self.params = trainable_parameters(self.module)
        self.optimizer = self._make_optimizer()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cls = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        return cls(
            self.params,
            lr=self.config.lr,
            betas=self.config.betas,
            weight_decay=self.config.weight_decay,
        )

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The training batch of ``step``: all data, or a slice of a per-epoch seeded shuffle."""
        size = self.config.batch_size
        n = self.data.n_train
        if size is None or size >= n:
            return self.data.train_inputs, self.data.train_labels
        per_epoch = n // size
        epoch, index = divmod(step, per_epoch)
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=generator)[index * size : (index + 1) * size]
        return self.data.train_inputs[order], self.data.train_labels[order]

    def train_step(self) -> Tensor:
        inputs, labels = self.batch(self.step)
        loss = self.config.loss(self.logits_fn(self.model, inputs), labels)
        if self.config.warmup_steps or self.config.decay != "none":
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(self.config, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return loss

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Train/test loss and accuracy, parameter norm and probe values at the current step."""
        row: dict[str, float] = {"step": self.step}
        for split, inputs, labels in (
            ("train", self.data.train_inputs, self.data.train_labels),
            ("test", self.data.test_inputs, self.data.test_labels),
        ):
            if inputs.shape[0] == 0:
                continue
            row[f"{split}_loss"], row[f"{split}_acc"] = self._split_metrics(inputs, labels)
        row["param_norm"] = parameter_norm(self.module)
        for probe in self.probes:
            row.update(probe(self))
        return row

    def _split_metrics(self, inputs: Tensor, labels: Tensor) -> tuple[float, float]:
        """Loss and accuracy on (the first ``eval_limit`` of) a split, in chunks."""
        limit, chunk = self.config.eval_limit, self.config.eval_batch_size
        inputs, labels = inputs[:limit], labels[:limit]
        if chunk is None or chunk >= inputs.shape[0]:
            loss, accuracy = loss_and_accuracy(self._logits(inputs), labels)
            return float(loss), float(accuracy)
        loss_sum = correct = count = 0.0
        for start in range(0, inputs.shape[0], chunk):
            logits, flat = flat_logits_and_labels(
                self._logits(inputs[start : start + chunk]),
                labels[start : start + chunk],
            )
            keep = flat != IGNORE_INDEX
            loss_sum += float(
                F.cross_entropy(logits, flat, ignore_index=IGNORE_INDEX, reduction="sum")
            )
            correct += float((logits.argmax(-1) == flat)[keep].sum())
            count += float(keep.sum())
        return loss_sum / count, correct / count

    def _logits(self, inputs: Tensor) -> Tensor:
        return self.config.cast(self.logits_fn(self.model, inputs))

    def fit(
        self,
        steps: int | None = None,
        stop_when: Callable[[list[dict]], bool] | None = None,
    ) -> pd.DataFrame:
        """Train until ``steps`` (default ``config.steps``) total steps, or until ``stop_when``
        (called with the metrics rows after each evaluation) says so; return all metrics."""
        target = self.config.steps if steps is None else steps
        if not self.rows or self.rows[-1]["step"] != self.step:
            self.rows.append(self.evaluate())
        bar = tqdm(
            total=target,
            initial=self.step,
            disable=not self.config.progress,
            desc="train",
            unit="step",
            dynamic_ncols=True,
        )
        with bar:
            while self.step < target:
                self.train_step()
                bar.update(1)
                evaluated = self.step % self.config.eval_every == 0 or self.step == target
                if evaluated:
                    self.rows.append(self.evaluate())
                    bar.set_postfix(_short(self.rows[-1]), refresh=False)
                every = self.config.checkpoint_every
                if every and self.checkpoint is not None and self.step % every == 0:
                    self.save_checkpoint()
                if evaluated and stop_when is not None and stop_when(self.rows):
                    logger.info("stopping at step %d", self.step)
                    break
        if self.checkpoint is not None:
            self.save_checkpoint()
        return self.metrics()

    def metrics(self) -> pd.DataFrame:
        """One row per evaluation; the standard columns first, then probes' in sorted order
        (the same for a fresh and a resumed run)."""
        frame = pd.DataFrame(self.rows)
        first = [c for c in _FIRST_COLUMNS if c in frame]
        return frame[first + sorted(c for c in frame if c not in _FIRST_COLUMNS)]

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Weights, optimiser state, step, config, data description and metrics log, atomically."""
        path = Path(path or self.checkpoint)
        # named_parameters() lists each tensor once (a bridge's state_dict repeats aliases).
        weights = {name: value for name, value in self.module.named_parameters()}
        metadata: dict[str, Any] = {
            "train": self.config.to_dict(),
            "data": self.data.meta,
            "metrics": self.rows,
        }
        save_checkpoint(
            path,
            model=weights,
            optimizer=self.optimizer.state_dict(),
            step=self.step,
            metadata=metadata,
        )
        logger.info("checkpoint at step %d -> %s", self.step, path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore weights, optimiser state, step and metrics written by ``save_checkpoint``."""
        problem = resume_problem(path, self.data)
        if problem:
            raise UsageError(problem)
        checkpoint = load_checkpoint(path)
        load_parameters(self.module, checkpoint.model)
        if checkpoint.optimizer is not None:
            for group in checkpoint.optimizer["param_groups"]:
                group["betas"] = tuple(group["betas"])
            self.optimizer.load_state_dict(checkpoint.optimizer)
        self.step = checkpoint.step
        self.rows = list(checkpoint.metadata.get("metrics", []))


@torch.no_grad()
def load_parameters(module: nn.Module, saved: dict[str, Tensor]) -> None:
    """Copy ``saved`` (named as ``module.named_parameters()``) into ``module``'s parameters."""
    own = dict(module.named_parameters())
    if set(saved) != set(own):
        missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        raise UsageError(
            f"checkpoint does not match the model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    for name, value in saved.items():
        if own[name].shape != value.shape:
            raise UsageError(
                f"checkpoint {name} has shape {tuple(value.shape)}, "
                f"the model {tuple(own[name].shape)}"
            )
        own[name].copy_(value)


def _short(row: dict) -> dict[str, str]:
    keys = ("train_acc", "test_acc", "train_loss")
    return {k.replace("_", ""): f"{row[k]:.3g}" for k in keys if k in row}
