"""What a decomposition runs on, as typed inputs a manifest records: a toy, or a model's texts.

- :class:`ToyInputs` (toy name, seed, :class:`ToyTrainingConfig`) -> :func:`toy_target`: the toy
  is trained (or loaded from ``weights``) and its parameters selected by the config's pattern.
- :class:`TokenData` (where the texts come from, how many, how long, per-token or last-position
  samples) -> :func:`token_target` over a loaded language model. Sources: ``text`` (a plain-text
  file cut into consecutive ``seq_len``-token windows, shuffled, the last ``n_eval`` held out),
  ``task`` (a prompt-pair task's clean prompts, read at the answer position), ``random``
  (random tokens: exercises the machinery on tiny random models, means nothing on a trained one).

Example:
    >>> inputs = ToyInputs("tms", seed=0, training=ToyTrainingConfig.preset("fast", steps=50))
    >>> target, model = toy_target(inputs, "*")
    >>> target.group.names
    ('W_in', 'W_out', 'b')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from mechcirc.analyses.l3d.parameters import select_parameters
from mechcirc.analyses.l3d.targets import TokenTarget, VectorTarget
from mechcirc.analyses.l3d.toy_training import ToyTrainingConfig, train_toys
from mechcirc.analyses.l3d.toys import TOYS, decomposition_module, get_toy
from mechcirc.config import Config, require_in, require_positive_int
from mechcirc.errors import UsageError
from mechcirc.models.protocol import HookedModel

__all__ = ["TokenData", "ToyInputs", "token_target", "toy_target", "toy_targets"]


@dataclass(frozen=True)
class ToyInputs(Config):
    """A toy model: its name, the seed of its weights and data, and how it is trained.

    ``weights``: a ``toy_model.safetensors`` of an earlier run with the same toy, seed and
    training, loaded instead of training again (sweeps over L3D settings share one toy).
    """

    toy: str = "tms"
    seed: int = 0
    training: ToyTrainingConfig = field(default_factory=ToyTrainingConfig)
    divergence: Literal["mse", "mse-authors"] = "mse"
    weights: str | None = None

    def validate(self) -> None:
        require_in("toy", self.toy, TOYS)
        require_in("divergence", self.divergence, ("mse", "mse-authors"))
        if self.weights is not None and not Path(self.weights).is_file():
            raise UsageError(f"toy weights not found: {self.weights}")


def toy_target(
    inputs: ToyInputs, patterns: str = "*", weights: str | Path | None = None
) -> tuple[VectorTarget, nn.Module]:
    """The toy, trained (or loaded from ``inputs.weights``, or from ``weights`` if that file
    exists), saved to ``weights`` when given; returns the target over its decomposed
    parameters and the trained model."""
    return toy_targets([inputs], patterns, [weights])[0]


def toy_targets(
    inputs: Sequence[ToyInputs],
    patterns: str = "*",
    weights: Sequence[str | Path | None] | None = None,
) -> list[tuple[VectorTarget, nn.Module]]:
    """:func:`toy_target` for several toys: those to train are trained together, one stacked
    run per toy and training config (:func:`~.toy_training.train_toys`), each seed once."""
    weights = list(weights) if weights is not None else [None] * len(inputs)
    sources = [
        item.weights or (path if path and Path(path).is_file() else None)
        for item, path in zip(inputs, weights, strict=True)
    ]
    trained = _train_missing([i for i, source in zip(inputs, sources, strict=True) if not source])
    built = []
    for item, source, path in zip(inputs, sources, weights, strict=True):
        spec = get_toy(item.toy)
        model = _load_toy(spec, item.seed, source) if source else trained[_model_key(item)]
        if path is not None and not Path(path).is_file():
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        group = select_parameters(decomposition_module(spec, model), patterns)
        built.append((VectorTarget(group, spec.sample, divergence=item.divergence), model))
    return built


def _model_key(inputs: ToyInputs) -> tuple:
    """What a trained toy depends on (not the divergence its decomposition uses)."""
    return inputs.toy, repr(inputs.training.to_dict()), inputs.seed


def _train_missing(inputs: list[ToyInputs]) -> dict[tuple, nn.Module]:
    """Each distinct toy of ``inputs`` trained once, the seeds of one toy and config together."""
    runs: dict[tuple, tuple[ToyInputs, list[int]]] = {}
    for item in inputs:
        _, seeds = runs.setdefault(_model_key(item)[:2], (item, []))
        if item.seed not in seeds:
            seeds.append(item.seed)
    trained = {}
    for first, seeds in runs.values():
        models = train_toys(get_toy(first.toy), first.training, seeds)
        trained.update(
            {_model_key(first.replace(seed=s)): m for s, m in zip(seeds, models, strict=True)}
        )
    return trained


def _load_toy(spec, seed: int, path: str | Path) -> nn.Module:
    model = spec.build(seed)
    model.load_state_dict(load_file(str(path)))
    return model.eval().requires_grad_(False)


@dataclass(frozen=True)
class TokenData(Config):
    """Texts for a language model's decomposition.

    Attributes:
        source: ``text`` (``path`` to a plain-text file), ``task`` (``task`` name or EAP-IG CSV)
            or ``random``.
        n_texts / n_eval: training texts and held-out texts.
        seq_len: tokens per text (``text`` and ``random``).
        positions: ``all`` (every position is a sample, the paper's mode) or ``last``.
    """

    source: Literal["text", "task", "random"] = "random"
    path: str | None = None
    task: str | None = None
    n_texts: int = 512
    n_eval: int = 64
    seq_len: int = 16
    positions: Literal["all", "last"] = "all"
    seed: int = 0

    def validate(self) -> None:
        require_in("source", self.source, ("text", "task", "random"))
        require_in("positions", self.positions, ("all", "last"))
        for name in ("n_texts", "n_eval", "seq_len"):
            require_positive_int(name, getattr(self, name))
        if self.source == "text" and not self.path:
            raise UsageError("source 'text' needs a path to a plain-text file")
        if self.source == "task" and not self.task:
            raise UsageError("source 'task' needs a task name (or an EAP-IG CSV)")
        if self.source == "task" and self.positions == "all":
            raise UsageError("task prompts are read at their answer position: use positions 'last'")

    def load(self, model: HookedModel) -> tuple[Tensor, Tensor]:
        """``(tokens [n_texts + n_eval, seq], read positions)``; the last ``n_eval`` held out."""
        n = self.n_texts + self.n_eval
        if self.source == "task":
            from mechcirc.tasks import load_pairs

            pairs = load_pairs(self.task, model.tokenizer, n=n, seed=self.seed)
            return pairs.clean, pairs.answer_pos
        if self.source == "random":
            generator = torch.Generator().manual_seed(self.seed)
            tokens = torch.randint(model.cfg.d_vocab, (n, self.seq_len), generator=generator)
        else:
            tokens = text_windows(model.tokenizer, self.path, n, self.seq_len, self.seed)
        return tokens, torch.full((len(tokens),), self.seq_len - 1)


def text_windows(tokenizer, path: str | Path, n: int, seq_len: int, seed: int = 0) -> Tensor:
    """``n`` consecutive ``seq_len``-token windows of a text file, in a seeded random order."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"text file not found: {path}")
    ids = torch.tensor(tokenizer(path.read_text())["input_ids"])
    n_windows = len(ids) // seq_len
    if n_windows < n:
        raise UsageError(
            f"{path} has {len(ids)} tokens, {n_windows} windows of {seq_len}: fewer than the "
            f"{n} texts asked for (training + held out)"
        )
    windows = ids[: n_windows * seq_len].view(n_windows, seq_len)
    order = torch.randperm(n_windows, generator=torch.Generator().manual_seed(seed))
    return windows[order[:n]]


def token_target(
    model: HookedModel, patterns: str, data: TokenData, text_chunk: int = 1
) -> TokenTarget:
    """A KL target over ``model``'s parameters matching ``patterns``, on ``data``'s texts."""
    device = next(model.parameters()).device
    tokens, read = data.load(model)
    return TokenTarget(
        select_parameters(model, patterns),
        tokens.to(device),
        read.to(device),
        tokenizer=getattr(model, "tokenizer", None),
        positions=data.positions,
        eval_from=len(tokens) - data.n_eval,
        text_chunk=text_chunk,
    )
