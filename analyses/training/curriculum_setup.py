"""The curriculum experiment's settings: its config, its arms, its datasets and model shapes.

Shared by the training (:mod:`.curriculum`) and the figures (:mod:`.curriculum_views`).

Example:
    >>> for arm in arms(CurriculumConfig(same_lrs=(1e-3,))):
    ...     print(arm.name)
    scratch lr=0.001 (paper's setting)
    curriculum 0.001->0.001 (paper's setting)
    curriculum 0.001->0.01 (authors' notebook)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from mechcirc.config import Config, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
from mechcirc.toys.cross_attention import CrossAttentionConfig

__all__ = [
    "Arm",
    "CurriculumConfig",
    "PAPER_LR",
    "P_FINAL",
    "P_PRETRAIN",
    "arms",
    "datasets",
    "model_config",
    "split",
]

P_FINAL, P_PRETRAIN = 4, 2
PAPER_LR = 1e-3  # "Except specified otherwise, the learning rate is lr = 1e-3" (the paper)


@dataclass(frozen=True)
class CurriculumConfig(Config):
    """Arms, seeds and budgets of the curriculum experiment and of its figures' extra runs.

    ``embedding_*``: the d=2 model of Fig. 4, trained on p=2, then finetuned from there on each
    p in ``embedding_finetune_ps`` (4: the paper's text; 3: the authors' visualisation code,
    ``finetune.py``'s ``vocab_size=3``) and, with ``embedding_control``, trained on p=4 only.
    The defaults are the authors' visualisation settings (``train.py``: batches of 32, lr 3e-3,
    d_mlp 32 with biases, 1000 epochs of 64 batches); full batch at d=2 stays at chance on p=2.
    ``graph_*``: the mini-batch run of Fig. 2 (T=8, p=4, batches of 32, the attention of one
    fixed sequence recorded after every update); ``graph_steps=0`` skips it. ``trajectory``:
    keep the parameters at every evaluation for Fig. 7.
    """

    seq_len: int = 12
    k: int = 5
    n_train: int = 2048
    n_test: int = 2048
    d_model: int = 32
    mlp_residual: Literal["z_A", "normed"] = "z_A"  # "normed": the paper's equation for z_O
    pretrain_steps: int = 3000
    finetune_steps: int = 7000
    pretrain_lr: float = 1e-3
    finetune_lr: float = 1e-2
    scratch_lr: float = PAPER_LR
    same_lrs: tuple[float, ...] = (PAPER_LR, 1e-2)
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_every: int = 100
    embedding_d_model: int = 2
    embedding_batch_size: int | None = 32
    embedding_lr: float = 3e-3
    embedding_steps: int = 64_000
    embedding_d_mlp: int | None = 32
    embedding_mlp_bias: bool = True
    embedding_finetune_ps: tuple[int, ...] = (4, 3)
    embedding_control: bool = True
    graph_steps: int = 9600
    graph_seq_len: int = 8
    graph_lr: float = PAPER_LR
    graph_batch_size: int = 32
    trajectory: bool = True
    workers: int = 1  # processes for the (seed, arm) runs, each one thread
    save_checkpoints: bool = True
    progress: bool = True

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "t8": {"seq_len": 8, "graph_steps": 0, "embedding_steps": 0},  # those: T=12 run
        "quick": {
            "n_train": 64,
            "n_test": 64,
            "pretrain_steps": 20,
            "finetune_steps": 30,
            "seeds": [0],
            "same_lrs": [PAPER_LR],
            "eval_every": 10,
            "embedding_steps": 20,
            "graph_steps": 20,
            "progress": False,
        },
    }

    def validate(self) -> None:
        for name in ("seq_len", "k", "n_train", "d_model", "eval_every", "workers"):
            require_positive_int(name, getattr(self, name))
        for name in ("pretrain_steps", "finetune_steps", "embedding_steps", "graph_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
        if self.k > self.seq_len or self.k > self.graph_seq_len:
            raise UsageError(f"k={self.k} must not exceed seq_len and graph_seq_len")
        for name in ("pretrain_lr", "finetune_lr", "scratch_lr", "embedding_lr", "graph_lr"):
            require_range(name, getattr(self, name), 0, low_open=True)
        for lr in self.same_lrs:
            require_range("same_lrs[]", lr, 0, low_open=True)
        if not self.seeds:
            raise UsageError("seeds must list at least one seed")
        require_positive_int("embedding_batch_size", self.embedding_batch_size, allow_none=True)
        require_positive_int("embedding_d_mlp", self.embedding_d_mlp, allow_none=True)
        for p in self.embedding_finetune_ps:
            if not 2 <= p <= P_FINAL:
                raise UsageError(f"embedding_finetune_ps must be in 2..{P_FINAL}, got {p}")
        require_positive_int("graph_batch_size", self.graph_batch_size)


@dataclass(frozen=True)
class Arm:
    name: str
    pretrain_lr: float | None  # None: from scratch
    lr: float  # the p=4 phase (the whole run from scratch)

    @property
    def curriculum(self) -> bool:
        return self.pretrain_lr is not None


def arms(config: CurriculumConfig) -> list[Arm]:
    """The paper's setting first (scratch, then curriculum at lr 1e-3 throughout when 1e-3 is in
    ``same_lrs``), the authors' notebook schedule, then the other common-lr pairs."""

    def label(base: str, lrs: tuple[float, ...]) -> str:
        if all(lr == PAPER_LR for lr in lrs):
            return f"{base} (paper's setting)"
        if lrs == (config.pretrain_lr, config.finetune_lr):
            return f"{base} (authors' notebook)"
        return base

    def scratch(lr: float) -> Arm:
        return Arm(label(f"scratch lr={lr:g}", (lr,)), None, lr)

    def curriculum(first: float, second: float) -> Arm:
        return Arm(label(f"curriculum {first:g}->{second:g}", (first, second)), first, second)

    found = [scratch(config.scratch_lr)]
    if config.scratch_lr in config.same_lrs:
        found.append(curriculum(config.scratch_lr, config.scratch_lr))
    found.append(curriculum(config.pretrain_lr, config.finetune_lr))
    for lr in config.same_lrs:
        found += [scratch(lr), curriculum(lr, lr)]
    unique: dict[tuple, Arm] = {}
    for arm in found:
        unique.setdefault((arm.pretrain_lr, arm.lr), arm)
    return list(unique.values())


def datasets(
    config: CurriculumConfig, seed: int, seq_len: int | None = None
) -> tuple[TrainTestSplit, TrainTestSplit]:
    """The p=4 split and the p=2 split (4-token vocabulary) of one seed."""
    return split(config, P_FINAL, seed, seq_len), split(config, P_PRETRAIN, seed, seq_len)


def split(
    config: CurriculumConfig, p: int, seed: int, seq_len: int | None = None
) -> TrainTestSplit:
    """Sparse modular addition mod ``p`` for the 4-token model; each p draws its own sequences
    (the data seed is ``seed``, plus 10,000 for p=2 and 10,000 * p for other p < 4).

    When fewer than ``n_train + n_test`` sequences exist (p=2 at T=8: 256), every sequence is a
    training sequence and the test set is the training set (the authors' code drew both sets
    with replacement from those 256).
    """
    seq_len = seq_len or config.seq_len
    sizes = {"n_train": config.n_train, "n_test": config.n_test}
    if p**seq_len < config.n_train + config.n_test:
        sizes = {"n_train": p**seq_len, "n_test": 0}
    data = SPARSE_MODULAR_ADDITION.build(
        p=p,
        seq_len=seq_len,
        k=config.k,
        d_vocab=P_FINAL,
        seed=seed + {P_FINAL: 0, P_PRETRAIN: 10_000}.get(p, 10_000 * p),
        **sizes,
    )
    if sizes["n_test"] == 0:
        meta = {**data.meta, "test": "the training set (every sequence)"}
        data = replace(
            data, test_inputs=data.train_inputs, test_labels=data.train_labels, meta=meta
        )
    return data


def model_config(config: CurriculumConfig, seed: int, **changes: Any) -> CrossAttentionConfig:
    values = {
        "d_vocab": P_FINAL,
        "n_ctx": config.seq_len,
        "d_model": config.d_model,
        "mlp_residual": config.mlp_residual,
        "seed": seed,
    }
    return CrossAttentionConfig(**(values | changes))
