"""Path patching (Wang et al. 2022) as one library call: ``path_patch(model, pairs, config)``.

For each sender head, the corrupted prompt's output of that head reaches only the receivers
(head query/key/value inputs or the final residual stream ``logits``), everything else frozen
at clean (engine: :class:`mechcirc.measures.paths.PathPatcher`). The effect of a sender is the
patched minus the clean metric of ``pairs`` (e.g. IOI logit difference), averaged over prompts;
``normalized_effect`` divides by corrupted minus clean (Tigges et al.'s
``(patched - clean) / (clean - corrupted)`` is its negative).

Example:
    >>> config = PathPatchConfig(receivers=("a3.h0<q>",))
    >>> result = path_patch(model, pairs, config)                 # doctest: +SKIP
    >>> result.to_frame().sort_values("effect").head()            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.config import Config, require_in, require_positive_int
from mechcirc.errors import MechcircError, UsageError
from mechcirc.graph.layout import GraphLayout
from mechcirc.measures.paths import (
    PathPatcher,
    check_senders,
    parse_head,
    receiver_groups,
    receiver_layer,
)
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.models.protocol import HookedModel
from mechcirc.runs import RunFolder
from mechcirc.tasks.metrics import BaselineGap
from mechcirc.tasks.pairs import PromptPairs

__all__ = ["PathPatchConfig", "PathPatchResult", "path_patch", "s_inhibition_to_name_movers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PathPatchConfig(Config):
    """Settings of :func:`path_patch`.

    Attributes:
        receivers: ``a{L}.h{H}<q|k|v>`` head inputs (KV heads for k/v under grouped-query
            attention) or ``logits``.
        senders: sender heads ``a{L}.h{H}``; None takes every head upstream of all receivers.
        freeze_mlps: keep MLPs at their clean values (paths through MLPs do not count).
        positions: ``all`` receiver positions, or only each prompt's ``end`` (last) token.
    """

    receivers: tuple[str, ...] = ("logits",)
    senders: tuple[str, ...] | None = None
    freeze_mlps: bool = True
    positions: str = "all"
    batch_size: int = 16

    def validate(self) -> None:
        if not self.receivers:
            raise UsageError("give at least one receiver: a{L}.h{H}<q|k|v> or logits")
        if self.senders is not None:
            for name in self.senders:
                parse_head(name)
        require_in("positions", self.positions, ("all", "end"))
        require_positive_int("batch_size", self.batch_size)


@dataclass(frozen=True)
class PathPatchResult:
    """Mean metric per sender after path patching, with the clean and corrupted baselines."""

    senders: list[str]
    receivers: list[str]
    clean_metric: float
    corrupted_metric: float
    patched_metric: Float[Tensor, " n_senders"]

    @property
    def effect(self) -> Float[Tensor, " n_senders"]:
        """Patched minus clean metric: how much the path carries the corruption's effect."""
        return self.patched_metric - self.clean_metric

    @property
    def normalized_effect(self) -> Float[Tensor, " n_senders"]:
        """``effect`` as a fraction of corrupted minus clean (1: the path carries all of it).

        Raises ``MechcircError`` when the clean and corrupted metrics are (nearly) equal.
        """
        gap = BaselineGap(self.clean_metric, self.corrupted_metric, stderr=math.nan)
        gap.check("the normalized path-patching effect")
        return self.effect / (self.corrupted_metric - self.clean_metric)

    def as_grid(self, n_layers: int, n_heads: int) -> Float[Tensor, "n_layers n_heads"]:
        """``effect`` on a ``[layer, head]`` grid, NaN for heads that were not senders."""
        grid = torch.full((n_layers, n_heads), torch.nan)
        for name, value in zip(self.senders, self.effect, strict=True):
            grid[parse_head(name)] = value
        return grid

    def to_frame(self):
        """One row per sender; ``normalized_effect`` is NaN (with a warning) when the clean and
        corrupted metrics are (nearly) equal."""
        import pandas as pd

        heads = [parse_head(name) for name in self.senders]
        try:
            normalized = self.normalized_effect.tolist()
        except MechcircError as err:
            log.warning("%s", err)
            normalized = [float("nan")] * len(self.senders)
        return pd.DataFrame(
            {
                "sender": self.senders,
                "layer": [layer for layer, _ in heads],
                "head": [head for _, head in heads],
                "patched_metric": self.patched_metric.tolist(),
                "effect": self.effect.tolist(),
                "normalized_effect": normalized,
            }
        )

    def metrics(self) -> dict:
        frame = self.to_frame().sort_values("effect").head(5)
        return {
            "clean_metric": self.clean_metric,
            "corrupted_metric": self.corrupted_metric,
            "strongest_senders": frame[["sender", "effect"]].values.tolist(),
        }


def path_patch(
    model: HookedModel,
    pairs: PromptPairs,
    config: PathPatchConfig,
    run: RunFolder | None = None,
    *,
    progress: bool = False,
) -> PathPatchResult:
    """Path-patch each sender -> ``config.receivers`` from ``pairs.corrupted`` into
    ``pairs.clean``; with ``run``, write ``path_patch.csv/.parquet/.safetensors`` and a heatmap.
    The model's hook switches are left as found."""
    layout = GraphLayout.from_model(model)
    groups = receiver_groups(layout, config.receivers)
    first = min(receiver_layer(name, layout.n_layers) for name in groups)
    senders = check_senders(layout, config.senders, first)
    with enable_analysis_hooks(model):
        result = _patch(model, pairs, config, senders, groups, progress)
    if run is not None:
        _write(run, model, result)
    return result


def _patch(model, pairs, config, senders, groups, progress) -> PathPatchResult:
    totals = torch.zeros(len(senders), dtype=torch.float64)
    clean_total = corrupt_total = 0.0
    batches = list(pairs.batches(config.batch_size))
    for batch in tqdm(batches, disable=not progress, desc="path patching"):
        batch = batch.to(model.W_U.device)
        patcher = PathPatcher(
            model, batch.clean, batch.corrupted, freeze_mlps=config.freeze_mlps, receivers=groups
        )
        clean_total += float(batch.evaluate(patcher.clean_logits).double().sum())
        corrupt_total += float(batch.evaluate(patcher.corrupted_logits).double().sum())
        positions = batch.answer_pos if config.positions == "end" else None
        to_logits = config.freeze_mlps and list(config.receivers) == ["logits"]
        for i, sender in enumerate(senders):
            if to_logits:  # the metric reads one position: unembed only that one
                logits = patcher.answer_logits([parse_head(sender)], batch.answer_pos)
                totals[i] += float(batch.metric_at_answer(logits).double().sum())
                continue
            logits, _ = patcher.run([parse_head(sender)], groups, positions=positions)
            totals[i] += float(batch.evaluate(logits).double().sum())
    n = len(pairs)
    return PathPatchResult(
        senders=senders,
        receivers=list(config.receivers),
        clean_metric=clean_total / n,
        corrupted_metric=corrupt_total / n,
        patched_metric=(totals / n).float(),
    )


def _write(run: RunFolder, model: HookedModel, result: PathPatchResult) -> None:
    from mechcirc.views import save_heatmap

    frame = result.to_frame()
    frame.to_csv(run.file("path_patch.csv"), index=False)
    run.save_table("path_patch.parquet", frame)
    grid = result.as_grid(model.cfg.n_layers, model.cfg.n_heads)
    run.save_tensors("path_patch.safetensors", {"effect": grid})
    for path in save_heatmap(grid, run.path / "path_patch_effect", title="path-patching effect"):
        run.file(path.name)
    run.update(metrics=result.metrics())


def s_inhibition_to_name_movers(
    model: HookedModel,
    pairs: PromptPairs,
    name_movers: Sequence[str],
    *,
    senders: Sequence[str] | None = None,
    batch_size: int = 16,
) -> PathPatchResult:
    """Tigges et al.'s S-inhibition candidates: path-patch senders -> name-mover queries.

    On IOI pairs (corruption ``abc``), S-inhibition heads are the senders whose path into the
    name movers' queries (``a{L}.h{H}<q>``) lowers the logit difference most.
    """
    if not name_movers:
        raise UsageError("give at least one name-mover head, e.g. ['a9.h9']")
    for name in name_movers:
        parse_head(name)
    config = PathPatchConfig(
        receivers=tuple(f"{name}<q>" for name in name_movers),
        senders=None if senders is None else tuple(senders),
        batch_size=batch_size,
    )
    return path_patch(model, pairs, config)
