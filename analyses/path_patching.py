"""Path patching (Wang et al. 2022): the effect of one sender head on given receivers only.

For each sender head, three runs per batch:

1. clean and corrupted runs, caching every head's ``hook_z`` (and ``hook_mlp_out``);
2. a clean run where the sender's ``hook_z`` is the corrupted one and every other head (and,
   with ``freeze_mlps``, every MLP) is frozen at its clean value; the receivers' inputs are
   recorded: ``blocks.L.hook_{q,k,v}_input`` of the receiver heads, or the final residual
   stream for ``logits``;
3. a clean run with only those receiver inputs replaced by the recorded ones. Its metric minus
   the clean metric is the sender's path effect.

Nodes use the EAP-IG names of ``GraphLayout``: senders ``a{L}.h{H}``, receivers
``a{L}.h{H}<q>`` / ``<k>`` / ``<v>`` or ``logits``. With grouped-query attention ``<k>`` and
``<v>`` name KV heads.

Example:
    >>> result = path_patch(model, pairs, senders=None, receivers=["a3.h0<q>"])  # doctest: +SKIP
    >>> result.to_frame().sort_values("effect").head()
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.errors import MechcircError, UsageError
from mechcirc.graph.layout import GraphLayout
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.tasks.metrics import BaselineGap
from mechcirc.tasks.pairs import PromptPairs

log = logging.getLogger(__name__)

_HEAD = re.compile(r"^a(\d+)\.h(\d+)$")
_INPUT = re.compile(r"^a(\d+)\.h(\d+)<([qkv])>$")


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
            layer, head = parse_head(name)
            grid[layer, head] = value
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


def parse_head(name: str) -> tuple[int, int]:
    match = _HEAD.match(name)
    if not match:
        raise UsageError(f"sender heads look like 'a0.h1', got {name!r}")
    return int(match[1]), int(match[2])


def _receiver_groups(layout: GraphLayout, receivers: Sequence[str]) -> dict[str, list[int]]:
    """Receiver hook name -> head indices to replace (``[]`` for the final residual)."""
    if not receivers:
        raise UsageError("give at least one receiver: a{L}.h{H}<q|k|v> or logits")
    groups: dict[str, list[int]] = defaultdict(list)
    for name in receivers:
        layout.dst_index(name)  # validates the name and its ranges
        if name == "logits":
            groups[f"blocks.{layout.n_layers - 1}.hook_resid_post"] = []
            continue
        match = _INPUT.match(name)
        if not match:
            raise UsageError(
                f"receivers must be head inputs a{{L}}.h{{H}}<q|k|v> or logits: {name!r}"
            )
        groups[f"blocks.{match[1]}.hook_{match[3]}_input"].append(int(match[2]))
    return dict(groups)


def _receiver_layer(hook_name: str, n_layers: int) -> int:
    layer = int(hook_name.split(".")[1])
    return n_layers if hook_name.endswith("hook_resid_post") else layer


def _check_senders(layout: GraphLayout, senders: Sequence[str] | None, first: int) -> list[str]:
    if senders is None:
        if first == 0:
            raise UsageError("receivers in layer 0 have no sender heads upstream of them")
        return [f"a{layer}.h{head}" for layer in range(first) for head in range(layout.n_heads)]
    for name in senders:
        layout.src_index(name)
        layer, _ = parse_head(name)
        if layer >= first:
            raise UsageError(
                f"sender {name} is not upstream of every receiver (receivers start at layer "
                f"{first}); senders must be in earlier layers"
            )
    if not senders:
        raise UsageError("give at least one sender head a{L}.h{H} (or None for all upstream)")
    return list(senders)


def _cache(model, tokens: Tensor, names: set[str]):
    return model.run_with_cache(tokens, names_filter=lambda name: name in names)


def _metric_sum(pairs: PromptPairs, logits: Tensor) -> float:
    return float(pairs.evaluate(logits).double().sum())


def _frozen_run_hooks(model, clean, corrupted, sender: tuple[int, int], freeze_mlps: bool):
    def freeze(name: str, source):
        def hook(value: Tensor, hook) -> Tensor:
            return source[name]

        return hook

    def sender_hook(value: Tensor, hook) -> Tensor:
        patched = clean[f"blocks.{sender[0]}.attn.hook_z"].clone()
        patched[:, :, sender[1]] = corrupted[f"blocks.{sender[0]}.attn.hook_z"][:, :, sender[1]]
        return patched

    hooks = []
    for layer in range(model.cfg.n_layers):
        z_name = f"blocks.{layer}.attn.hook_z"
        hooks.append((z_name, sender_hook if layer == sender[0] else freeze(z_name, clean)))
        if freeze_mlps and f"blocks.{layer}.hook_mlp_out" in clean:
            hooks.append(
                (f"blocks.{layer}.hook_mlp_out", freeze(f"blocks.{layer}.hook_mlp_out", clean))
            )
    return hooks


def _replace_receivers(recorded: dict[str, Tensor], groups: dict[str, list[int]]):
    def make(name: str, heads: list[int]):
        def hook(value: Tensor, hook) -> Tensor:
            if not heads:
                return recorded[name]
            value = value.clone()
            value[:, :, heads] = recorded[name][:, :, heads]
            return value

        return hook

    return [(name, make(name, heads)) for name, heads in groups.items()]


@torch.no_grad()
def _patch_batch(model, pairs: PromptPairs, senders, groups, freeze_mlps: bool):
    pairs = pairs.to(model.W_U.device)
    clean_tokens, corrupt_tokens = pairs.clean, pairs.corrupted
    frozen = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    if freeze_mlps:
        frozen |= {f"blocks.{layer}.hook_mlp_out" for layer in range(model.cfg.n_layers)}
    frozen &= set(model.hook_dict)
    clean_logits, clean = _cache(model, clean_tokens, frozen)
    corrupt_logits, corrupted = _cache(model, corrupt_tokens, frozen)
    patched = []
    for sender in senders:
        hooks = _frozen_run_hooks(model, clean, corrupted, parse_head(sender), freeze_mlps)
        recorded: dict[str, Tensor] = {}
        hooks += [(name, _recorder(recorded, name)) for name in groups]
        model.run_with_hooks(clean_tokens, fwd_hooks=hooks)
        logits = model.run_with_hooks(clean_tokens, fwd_hooks=_replace_receivers(recorded, groups))
        patched.append(_metric_sum(pairs, logits))
    return _metric_sum(pairs, clean_logits), _metric_sum(pairs, corrupt_logits), patched


def _recorder(store: dict[str, Tensor], name: str):
    """A hook that keeps its input under the name we asked for (``hook.name`` may differ)."""

    def hook(value: Tensor, hook) -> None:
        store[name] = value.detach().clone()

    return hook


def path_patch(
    model,
    pairs: PromptPairs,
    senders: Sequence[str] | None,
    receivers: Sequence[str],
    *,
    freeze_mlps: bool = True,
    batch_size: int = 16,
    progress: bool = False,
) -> PathPatchResult:
    """Path-patch each sender head -> ``receivers`` from ``pairs.corrupted`` into ``pairs.clean``.

    ``senders=None`` takes every head upstream of all receivers. The metric is ``pairs``'s
    (e.g. IOI logit difference), averaged over examples.
    """
    with enable_analysis_hooks(model):
        return _path_patch(model, pairs, senders, receivers, freeze_mlps, batch_size, progress)


def _path_patch(model, pairs, senders, receivers, freeze_mlps, batch_size, progress):
    layout = GraphLayout.from_model(model)
    groups = _receiver_groups(layout, receivers)
    first = min(_receiver_layer(name, layout.n_layers) for name in groups)
    senders = _check_senders(layout, senders, first)
    totals = torch.zeros(len(senders), dtype=torch.float64)
    clean_total = corrupt_total = 0.0
    for batch in tqdm(list(pairs.batches(batch_size)), disable=not progress, desc="path patching"):
        clean, corrupt, patched = _patch_batch(model, batch, senders, groups, freeze_mlps)
        clean_total, corrupt_total = clean_total + clean, corrupt_total + corrupt
        totals += torch.tensor(patched, dtype=torch.float64)
    n = len(pairs)
    return PathPatchResult(
        senders=senders,
        receivers=list(receivers),
        clean_metric=clean_total / n,
        corrupted_metric=corrupt_total / n,
        patched_metric=(totals / n).float(),
    )


def s_inhibition_to_name_movers(
    model,
    pairs: PromptPairs,
    name_movers: Sequence[str],
    *,
    senders: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> PathPatchResult:
    """Tigges et al.'s check of S-inhibition heads: path-patch senders -> name-mover queries.

    On IOI pairs (``mechcirc.tasks.get("ioi")``, corruption ``abc``), S-inhibition heads are the
    senders whose path into the name movers' queries (``a{L}.h{H}<q>``) lowers the logit
    difference most. ``name_movers`` are heads like ``"a9.h9"``.
    """
    if not name_movers:
        raise UsageError("give at least one name-mover head, e.g. ['a9.h9']")
    for name in name_movers:
        parse_head(name)
    receivers = [f"{name}<q>" for name in name_movers]
    return path_patch(model, pairs, senders, receivers, batch_size=batch_size, progress=progress)
