"""IOI algorithm consistency at one checkpoint (Tigges et al. 2024, Sec. 4.1, Fig. 4).

``run_ioi_components(model, pairs, config)`` finds the heads of each IOI role as Tigges et al.
do (their ``get_ioi_consistency.py``) and how much of the model's IOI performance each carries:

1. Direct effects: every head's path to the final residual stream is patched (corruption
   ``abc``); effect ``e = (patched - clean) / (clean - corrupted)``.
2. Name movers: in-context copy score > 10%, attention from the final token to IO above that to
   S1 and to S2, and ``e < 0``. Negative name movers: negative copy score > 10%, the same
   attention rule, ``e > 0``. Copy-suppression heads: CSPA > 0.10 (computed on natural text for
   heads outside layer 0 with ``|e| > 0.01``). With ``circuit_edges`` (EAP-IG edge names in the
   circuit), each must also have an in-circuit edge to ``logits``.
3. S-inhibition heads: senders whose path into the name movers' queries has effect < -0.001
   (in-circuit edge into a name mover's ``<q>`` when ``circuit_edges`` is given), confirmed by
   the position-swap test (patching their final-token output from ``ABB -> BAB`` prompts into
   the name movers' queries lowers the logit difference and the name movers' attention to IO
   and raises it to S1); the token-swap test (``ABB -> BAA``) is recorded beside it.
4. Induction and duplicate-token heads: senders into the values of the S-inhibition heads that
   are not copy-suppression heads, with effect < -0.001 and an induction (duplicate-token)
   score above the model's mean.

Shares (``IOIComponents.share``) are ``-100 * sum(e)`` over a role's heads. The model's hook
switches are left as found. With a run folder: ``components.parquet``,
``ioi_consistency.parquet`` and ``components.json`` (roles, baselines, shares).

Example:
    >>> result = run_ioi_components(model, pairs, IOIComponentsConfig())   # doctest: +SKIP
    >>> result.consistency_frame()                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import torch
from torch import Tensor

from mechcirc.measures.attention_scores import RepeatedTokens, attention_scores
from mechcirc.measures.context_copy import context_copy_scores
from mechcirc.measures.corpus import model_corpus_tokens
from mechcirc.measures.cspa_full import cspa_full_scores
from mechcirc.measures.name_movers import attention_to_names
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.models.protocol import HookedModel
from mechcirc.runs import RunFolder
from mechcirc.tasks.pairs import PromptPairs

from .config import IOIComponentsConfig
from .patching import Baselines, head_inputs, path_effects, swap_effects
from .result import EFFECT_COLUMNS, IOIComponents
from .swaps import SWAPS

__all__ = ["run_ioi_components"]

log = logging.getLogger(__name__)

Head = tuple[int, int]


def run_ioi_components(
    model: HookedModel,
    pairs: PromptPairs,
    config: IOIComponentsConfig | None = None,
    run: RunFolder | None = None,
    *,
    circuit_edges: Collection[str] | None = None,
    cspa_tokens: Tensor | None = None,
) -> IOIComponents:
    """The IOI roles, scores, effects and shares of ``model`` on IOI ``pairs`` (module doc).

    ``cspa_tokens`` ([n, pos] token ids) replaces the natural text CSPA reads (a model
    without a tokenizer needs it).
    """
    config = config or IOIComponentsConfig()
    with enable_analysis_hooks(model):
        result = _analyse(model, pairs, config, circuit_edges, cspa_tokens)
    if run is not None:
        run.save_table("components.parquet", result.components_frame())
        run.save_table("ioi_consistency.parquet", result.consistency_frame())
        run.save_json("components.json", result.metrics())
        run.update(metrics=result.metrics())
    return result


def _analyse(model, pairs, config, edges, cspa_tokens) -> IOIComponents:
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    every = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    baselines = Baselines(model, pairs, config.batch_size)
    if baselines.gap.problem:
        log.warning("IOI baselines: %s; shares are unreliable", baselines.gap.problem)
    last = {f"blocks.{n_layers - 1}.hook_resid_post": []}
    log.info("direct effects of %d heads", len(every))
    effects = {
        "direct_effect": path_effects(model, pairs, baselines, last, every, config.batch_size)
    }
    log.info("in-context copy, attention to the names, induction and duplicate-token scores")
    scores = _ioi_scores(model, pairs, config)
    roles = _direct_roles(model, config, scores, effects["direct_effect"], edges, cspa_tokens)
    _s_inhibition(model, pairs, config, baselines, roles, effects, edges)
    _induction_roles(model, pairs, config, baselines, roles, effects, scores)
    nan = torch.full((n_layers, n_heads), torch.nan)
    effects = {k: effects.get(k, nan) for k in EFFECT_COLUMNS}
    return IOIComponents(config, baselines.gap, scores, effects, roles)


def _ioi_scores(model, pairs, config) -> dict[str, torch.Tensor]:
    scores = {}
    for negative in (False, True):
        score = context_copy_scores(
            model, pairs.clean, pairs.positions, negative=negative, batch_size=config.batch_size
        )
        scores[score.name] = score.values
    attention = attention_to_names(
        model, pairs.clean, pairs.positions, batch_size=config.batch_size
    )
    scores.update({name: score.values for name, score in attention.items()})
    data = RepeatedTokens(config.half_len, config.n_sequences, config.seed)
    patterns = attention_scores(model, data, batch_size=config.batch_size)
    scores["induction"] = patterns["induction"].values
    scores["duplicate_token"] = patterns["duplicate_token"].values
    scores["cspa"] = torch.full_like(scores["induction"], torch.nan)
    return scores


def _to_logits(head: Head, edges) -> bool:
    return edges is None or f"a{head[0]}.h{head[1]}->logits" in edges


def _direct_roles(model, config, scores, direct, edges, cspa_tokens) -> dict[str, list[Head]]:
    layers, heads = direct.shape
    every = [(layer, head) for layer in range(layers) for head in range(heads)]
    io, s1, s2 = scores["attn_io"], scores["attn_s1"], scores["attn_s2"]
    attends_io = (io > s1) & (io > s2)
    copies, suppresses = scores["context_copy"], scores["negative_copy"]
    roles = {
        "name_mover": [
            h for h in every
            if copies[h] > config.copy_threshold and attends_io[h] and direct[h] < 0
        ],
        "negative_name_mover": [
            h for h in every
            if suppresses[h] > config.copy_threshold and attends_io[h] and direct[h] > 0
        ],
    }  # fmt: skip
    roles = {role: [h for h in found if _to_logits(h, edges)] for role, found in roles.items()}
    targets = [h for h in every if h[0] > 0 and abs(float(direct[h])) > config.cspa_effect]
    if targets:
        log.info("CSPA of %d heads with |direct effect| > %g", len(targets), config.cspa_effect)
        scores["cspa"] = _cspa(model, config, targets, cspa_tokens)
    roles["copy_suppression"] = [
        h for h in targets if scores["cspa"][h] > config.cspa_threshold and _to_logits(h, edges)
    ]
    return roles


def _cspa(model, config, targets: list[Head], tokens: Tensor | None) -> torch.Tensor:
    if tokens is None:
        tokens = model_corpus_tokens(model, config.text, seq_len=config.cspa_seq_len)
    score = cspa_full_scores(
        model,
        tokens[: config.cspa_sequences],
        mean_tokens=tokens,
        heads=targets,
        fraction=config.cspa_fraction,
        batch_size=max(1, config.batch_size // 4),
    )
    return score.values


def _upstream(model, receivers: list[Head]) -> list[Head]:
    top = max(layer for layer, _ in receivers)
    return [(layer, head) for layer in range(top) for head in range(model.cfg.n_heads)]


def _s_inhibition(model, pairs, config, baselines, roles, effects, edges) -> None:
    movers = [h for h in roles["name_mover"] if h[0] > 0]
    roles["s_inhibition"] = []
    if not movers:
        return
    senders = _upstream(model, movers)
    log.info("S-inhibition: %d senders into %d name movers' queries", len(senders), len(movers))
    receivers = head_inputs(model, movers, "q")
    grid = path_effects(model, pairs, baselines, receivers, senders, config.batch_size)
    effects["s_inhibition_effect"] = grid
    into_movers = {f"a{lay}.h{h}<q>" for lay, h in movers}
    candidates = [
        h for h in senders
        if grid[h] < -config.path_threshold
        and (edges is None or any(f"a{h[0]}.h{h[1]}->{q}" in edges for q in into_movers))
    ]  # fmt: skip
    for kind in SWAPS:
        for column in _SWAP_KEYS.values():
            effects[f"{kind}_swap_{column}"] = torch.full_like(grid, torch.nan)
    log.info("swap tests of %d S-inhibition candidates", len(candidates))
    for head in candidates:
        for kind, swap in SWAPS.items():
            swapped = swap(pairs.clean, pairs.positions)
            change = swap_effects(model, pairs, head, movers, swapped, config.batch_size)
            for key, column in _SWAP_KEYS.items():
                effects[f"{kind}_swap_{column}"][head] = change[key]
        if _confirmed(effects, head):
            roles["s_inhibition"].append(head)


_SWAP_KEYS = {"logit_diff": "logit_diff", "io": "attn_io", "s1": "attn_s1"}


def _confirmed(effects, head: Head) -> bool:
    """Tigges et al.'s rule: the position swap lowers the logit difference and the name movers'
    attention to IO, and raises their attention to S1."""
    return bool(
        effects["position_swap_logit_diff"][head] < 0
        and effects["position_swap_attn_io"][head] < 0
        and effects["position_swap_attn_s1"][head] > 0
    )


def _induction_roles(model, pairs, config, baselines, roles, effects, scores) -> None:
    pure = [h for h in roles["s_inhibition"] if h not in roles["copy_suppression"] and h[0] > 0]
    roles["induction"], roles["duplicate_token"] = [], []
    if not pure:
        return
    senders = _upstream(model, pure)
    log.info("induction / duplicate-token: %d senders into %d values", len(senders), len(pure))
    receivers = head_inputs(model, pure, "v")
    grid = path_effects(model, pairs, baselines, receivers, senders, config.batch_size)
    effects["value_effect"] = grid
    for role in ("induction", "duplicate_token"):
        score = scores[role]
        mean = float(score.mean())
        roles[role] = [h for h in senders if grid[h] < -config.path_threshold and score[h] > mean]
