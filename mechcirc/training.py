"""A small, resumable trainer for the toy models: full- or mini-batch Adam/AdamW.

Labels are one class per example (``[n]``, logits ``[batch, classes]``) or one token per
position (``[n, seq]``, logits ``[batch, seq, vocab]``: next-token language modelling), where
``IGNORE_INDEX`` (-100) marks positions that carry no loss (padding).

Per step it does only forward, backward and the optimiser update (no hooks, no ``.item()``);
every ``eval_every`` steps it logs train/test loss and accuracy, the parameter norm and any
probe values into a metrics table. Checkpoints hold the model weights, the optimiser state and
the step in one ``.safetensors`` file, the metrics in ``metrics.parquet`` beside it, so a run
stopped at any checkpoint resumes bit-for-bit (mini-batches are a pure function of seed and step).

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
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from mechcirc.errors import UsageError
from mechcirc.parameters import trainable_parameters
from mechcirc.splits import TrainTestSplit
from mechcirc.toys.grokking import native_module

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.parquet"
IGNORE_INDEX = -100  # a label that carries no loss (padding of token-level labels)

LogitsFn = Callable[[nn.Module, Int[Tensor, "batch seq"]], Float[Tensor, "batch classes"]]
Probe = Callable[["Trainer"], dict[str, float]]


@dataclass
class TrainConfig:
    """Optimisation settings; ``batch_size=None`` means full batch.

    ``warmup_steps``: the learning rate rises linearly over the first steps; then it stays
    (``decay="none"``) or follows a cosine from ``lr`` down to ``min_lr_ratio * lr`` at
    ``steps`` (``decay="cosine"``, as in Pythia). The rate is a function of the step alone, so
    a resumed run follows the same schedule.
    ``eval_limit``: evaluate on the first N examples of each split only; ``eval_batch_size``:
    evaluate in chunks of that many examples (memory); ``None``: everything in one pass.
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

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise UsageError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.decay not in ("none", "cosine") or not 0 <= self.min_lr_ratio <= 1:
            raise UsageError(
                f"need decay 'none' or 'cosine' and 0 <= min_lr_ratio <= 1, got "
                f"{self.decay!r}, {self.min_lr_ratio}"
            )
        for name in ("eval_limit", "eval_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"{name} must be positive or None, got {value}")
        if self.steps < 0 or self.eval_every < 1:
            raise UsageError(
                f"need steps >= 0 and eval_every >= 1, got {self.steps}, {self.eval_every}"
            )
        if self.optimizer not in ("adam", "adamw"):
            raise UsageError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise UsageError(
                f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"batch_size must be positive or None, got {self.batch_size}")

    def to_dict(self) -> dict:
        return asdict(self)


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


@dataclass
class Trainer:
    """Train ``model`` on ``data`` under ``config``; ``fit()`` returns the metrics table."""

    model: nn.Module
    data: TrainTestSplit
    config: TrainConfig
    logits_fn: LogitsFn = default_logits
    out_dir: str | Path | None = None
    probes: Sequence[Probe] = ()
    step: int = 0
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.module = native_module(self.model)
        self.params = trainable_parameters(self.module)
        self.optimizer = self._make_optimizer()
        if self.out_dir is not None:
            self.out_dir = Path(self.out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)

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
        logits, labels = flat_logits_and_labels(self.logits_fn(self.model, inputs), labels)
        loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
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
            loss, accuracy = loss_and_accuracy(self.logits_fn(self.model, inputs), labels)
            return float(loss), float(accuracy)
        loss_sum = correct = count = 0.0
        for start in range(0, inputs.shape[0], chunk):
            logits, flat = flat_logits_and_labels(
                self.logits_fn(self.model, inputs[start : start + chunk]),
                labels[start : start + chunk],
            )
            keep = flat != IGNORE_INDEX
            loss_sum += float(
                F.cross_entropy(logits, flat, ignore_index=IGNORE_INDEX, reduction="sum")
            )
            correct += float((logits.argmax(-1) == flat)[keep].sum())
            count += float(keep.sum())
        return loss_sum / count, correct / count

    def fit(self, steps: int | None = None) -> pd.DataFrame:
        """Train until ``steps`` (default ``config.steps``) total steps; return all metrics."""
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
                if self.step % self.config.eval_every == 0 or self.step == target:
                    self.rows.append(self.evaluate())
                    bar.set_postfix(_short(self.rows[-1]), refresh=False)
                every = self.config.checkpoint_every
                if every and self.out_dir is not None and self.step % every == 0:
                    self.save_checkpoint()
        if self.out_dir is not None:
            self.save_checkpoint()
        return self.metrics()

    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def save_checkpoint(self, directory: str | Path | None = None) -> Path:
        """Write weights + optimiser state (safetensors) and metrics (Parquet) to ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory or self.out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        # named_parameters() lists each tensor once (a bridge's state_dict repeats aliases).
        tensors = {f"model.{k}": v.detach().contiguous() for k, v in self.module.named_parameters()}
        state = self.optimizer.state_dict()
        for index, slots in state["state"].items():
            for key, value in slots.items():
                tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).contiguous()
        metadata = {
            "step": str(self.step),
            "config": json.dumps(self.config.to_dict()),
            "param_groups": json.dumps(state["param_groups"]),
            "data": json.dumps(self.data.meta, sort_keys=True),
        }
        path = directory / CHECKPOINT_FILE
        # Written beside its final name and renamed: a kill mid-write never tears the checkpoint.
        partial = path.with_suffix(".partial")
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)
        self.metrics().to_parquet(directory / METRICS_FILE, index=False)
        logger.info("checkpoint at step %d -> %s", self.step, path)
        return path

    def load_checkpoint(self, directory: str | Path) -> None:
        """Restore weights, optimiser state, step and metrics written by ``save_checkpoint``."""
        from safetensors import safe_open

        path = Path(directory) / CHECKPOINT_FILE
        if not path.is_file():
            raise UsageError(f"no checkpoint at {path}: expected a folder written by the trainer")
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        saved_data = json.loads(metadata.get("data", "null"))
        if saved_data is not None and saved_data != json.loads(json.dumps(self.data.meta)):
            raise UsageError(
                f"checkpoint {path} was trained on {saved_data}, not on "
                f"{self.data.meta}: resume with the same data"
            )
        self._load_parameters({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        slots: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                slots.setdefault(int(index), {})[name] = value
        groups = json.loads(metadata["param_groups"])
        for group in groups:
            group["betas"] = tuple(group["betas"])
        self.optimizer.load_state_dict({"state": slots, "param_groups": groups})
        self.step = int(metadata["step"])
        metrics_path = Path(directory) / METRICS_FILE
        self.rows = (
            pd.read_parquet(metrics_path).to_dict("records") if metrics_path.is_file() else []
        )

    @torch.no_grad()
    def _load_parameters(self, saved: dict[str, Tensor]) -> None:
        own = dict(self.module.named_parameters())
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
