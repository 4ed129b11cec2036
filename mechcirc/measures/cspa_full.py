"""Copy-suppression-preserving ablation, full (QK filter and OV projection), on natural text.

Source: McDougall, Conmy, Rushing, McGrath and Nanda (2023), "Copy Suppression" (arXiv
2310.04625, Sec. 4), as Tigges et al. (2024, Sec. 4.1) run it to find copy-suppression heads
(CSPA > 0.10): ``K_unembeddings = 0.05``, ``K_semantic = 1``, only negative components kept,
direct-path effects with the final norm's scale frozen, on natural text.

For head ``h`` of layer ``L`` on token sequences, with ``A`` its attention pattern, ``vo_s`` the
output it moves from source ``s``, ``m_d`` its mean output at destination position ``d`` (mean
over the data) and ``u_t`` the unit (effective, vocabulary-centred) unembedding of token ``t``:

- QK filter: the logit lens of the residual before layer ``L`` at ``d`` (through the final norm
  with the clean run's scale) is read for each earlier source's token (and its ``K_semantic``
  semantic neighbours); function-word sources never count. The ``ceil(0.05 * (d + 1))``
  highest-predicted distinct source tokens are kept (every earlier position holding one).
- OV projection: for kept ``(d, s)``, only the negative component of ``A[d, s] (vo_s - m_d)``
  along ``u_t`` survives (onto the span of the neighbours' unembeddings for ``K_semantic > 1``).
  ``cspa_d = m_d + sum_s kept parts``; every other part is mean-ablated.

Both ``cspa_d`` and plain mean ablation ``m_d`` replace the head's output in the final residual
stream only (downstream layers see the clean output), and::

    score = 1 - mean KL(clean || CSPA) / mean KL(clean || mean ablation)

over all tokens. 1: the head's effect is all copy suppression; NaN where mean ablation changes
nothing. :mod:`mechcirc.measures.cspa` is the earlier OV-only, full-forward variant.

Example:
    >>> tokens = corpus_tokens(model.tokenizer, seq_len=61)         # doctest: +SKIP
    >>> cspa_full_scores(model, tokens[:17], mean_tokens=tokens).values
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.measures.result import HeadScore
from mechcirc.measures.weights import expand_kv, final_norm_frozen, norm_kind
from mechcirc.models.protocol import HookedModel

__all__ = ["FUNCTION_WORDS", "cspa_full_scores", "function_token_ids", "qk_filter_mask"]

# Sources the copy-suppression QK circuit ignores (McDougall et al. filter function words).
_WORDS = (
    *("a", "the", "an", "to", "of", "in", "on", "at", "by", "for", "with", "as", "from"),
    *("that", "this", "it", "its", "is", "was", "are", "be", "have", "has", "had", "and"),
    *("or", "but", "not", "so", "if", "when", "which", "who", "what", "how", "they", "their"),
    *("them", "he", "his", "her", "she", "we", "you", "your", "my", "our", "I", "The", "It"),
    *("This", "That", "But", "As", "When", "If", "In", "Of", "To", "With", "For"),
)
FUNCTION_WORDS = (
    *_WORDS,
    *(" " + word for word in _WORDS),
    *(".", ",", ";", ":", "?", "!", "'", '"', " '", ' "', "'s", "\n", "\n\n", "-", " -"),
)


def function_token_ids(tokenizer) -> Tensor:
    """Ids of :data:`FUNCTION_WORDS` that are single tokens, plus the special tokens."""
    if tokenizer is None:
        return torch.zeros(0, dtype=torch.long)
    ids = set(getattr(tokenizer, "all_special_ids", []))
    for word in FUNCTION_WORDS:
        if not word:
            continue
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
    return torch.tensor(sorted(ids), dtype=torch.long)


def qk_filter_mask(
    lens: Float[Tensor, "batch dst src k_sem"],
    tokens: Int[Tensor, "batch src"],
    function_tokens: Int[Tensor, " f"],
    fraction: float = 0.05,
) -> Bool[Tensor, "batch dst src k_sem"]:
    """McDougall et al.'s QK filter: at each destination ``d`` keep the (source, neighbour)
    pairs whose logit lens reaches the ``ceil(fraction * (d + 1))``-th highest value among
    first occurrences; sources after ``d`` and function-word sources are never kept."""
    batch, n_dst, n_src, _ = lens.shape
    dst = torch.arange(n_dst, device=lens.device)[:, None]
    src = torch.arange(n_src, device=lens.device)[None]
    valid = (src <= dst)[None, :, :, None].expand_as(lens)
    is_function = torch.isin(tokens, function_tokens.to(tokens.device))
    valid = valid & ~is_function[:, None, :, None]
    first = _first_occurrence(tokens)[:, None, :, None]
    ranked = lens.masked_fill(~(valid & first), -math.inf).flatten(-2)  # [b, dst, src*k]
    keep = torch.zeros_like(valid)
    for d in range(n_dst):
        count = math.ceil(fraction * (d + 1))
        top = ranked[:, d].topk(min(count, ranked.shape[-1]), dim=-1).values[:, -1]  # [b]
        keep[:, d] = valid[:, d] & (lens[:, d] + 1e-6 >= top[:, None, None])
    return keep


def _first_occurrence(tokens: Tensor) -> Tensor:
    same = tokens[:, :, None] == tokens[:, None, :]  # [b, s, s']
    earlier = torch.ones_like(same[0]).tril(-1).bool()  # s' < s
    return ~(same & earlier).any(-1)


def _unembedding_directions(model: HookedModel) -> Float[Tensor, "d_model d_vocab"]:
    """Unit residual-space directions of the tokens: ``ln_final``'s weight folded into
    ``W_U``, centred over ``d_model`` (LayerNorm) and over the vocabulary."""
    w_u = model.W_U
    norm = getattr(model, "ln_final", None)
    weight = getattr(norm, "weight", None) if norm is not None else None
    if weight is not None:
        w_u = weight[:, None] * w_u
    if norm_kind(model) == "LN":
        w_u = w_u - w_u.mean(0, keepdim=True)
    w_u = w_u - w_u.mean(1, keepdim=True)
    return F.normalize(w_u, dim=0)


def _cache_names(model: HookedModel, layers: Sequence[int]) -> set[str]:
    names = {"ln_final.hook_scale"}
    for layer in layers:
        names |= {
            f"blocks.{layer}.hook_resid_pre",
            f"blocks.{layer}.attn.hook_pattern",
            f"blocks.{layer}.attn.hook_v",
        }
    return names


def _head_outputs(model: HookedModel, layer: int, cache) -> Tensor:
    """``A[d, s] * vo_s`` would be [b, h, d, s, m]; return ``vo`` [b, s, h, m] instead."""
    values = expand_kv(model, cache[f"blocks.{layer}.attn.hook_v"], head_dim=2)
    return torch.einsum("bshe,hem->bshm", values, model.W_O[layer])


@torch.no_grad()
def _mean_outputs(model: HookedModel, tokens: Tensor, layers: Sequence[int], batch: int):
    """Each head's mean output per position over ``tokens``: {layer: [pos, head, d_model]}."""
    sums = {layer: 0.0 for layer in layers}
    names = {f"blocks.{layer}.attn.hook_{k}" for layer in layers for k in ("pattern", "v")}
    for start in range(0, len(tokens), batch):
        chunk = tokens[start : start + batch].to(model.W_U.device)
        _, cache = model.run_with_cache(chunk, names_filter=lambda n: n in names)
        for layer in layers:
            vo = _head_outputs(model, layer, cache)
            out = torch.einsum("bhds,bshm->bdhm", cache[f"blocks.{layer}.attn.hook_pattern"], vo)
            sums[layer] = sums[layer] + out.double().sum(0)
    return {layer: (total / len(tokens)).to(model.W_U.dtype) for layer, total in sums.items()}


def _kl_sum(clean_logp: Tensor, logits: Tensor) -> float:
    patched = logits.float().log_softmax(-1)
    return float(F.kl_div(patched, clean_logp, log_target=True, reduction="none").sum())


@torch.no_grad()
def cspa_full_scores(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    *,
    mean_tokens: Int[Tensor, "n pos"] | None = None,
    heads: Sequence[tuple[int, int]] | None = None,
    fraction: float = 0.05,
    neighbours: Int[Tensor, "d_vocab k_sem"] | None = None,
    batch_size: int = 4,
) -> HeadScore:
    """The full CSPA score (module docstring) of ``heads`` (default: every head; the others
    are NaN), on ``tokens``; mean outputs come from ``mean_tokens`` (default ``tokens``)."""
    _check(tokens, fraction, batch_size)
    mean_tokens = tokens if mean_tokens is None else mean_tokens
    if mean_tokens.shape[1] < tokens.shape[1]:
        raise UsageError("mean_tokens must be at least as long as tokens (a mean per position)")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    heads = (
        [(lay, h) for lay in range(n_layers) for h in range(n_heads)] if heads is None else heads
    )
    layers = sorted({layer for layer, _ in heads})
    means = _mean_outputs(model, mean_tokens, layers, batch_size)
    seq = tokens.shape[1]
    kl = {head: [0.0, 0.0] for head in heads}
    fn_tokens = function_token_ids(getattr(model, "tokenizer", None))
    directions = _unembedding_directions(model)
    for start in range(0, len(tokens), batch_size):
        chunk = tokens[start : start + batch_size].to(model.W_U.device)
        filters = (fn_tokens, directions, fraction, neighbours)
        _cspa_batch(model, chunk, heads, means, seq, kl, filters)
    values = torch.full((n_layers, n_heads), math.nan)
    for (layer, head), (ablated, cspa) in kl.items():
        if ablated > 1e-12 * tokens.numel():
            values[layer, head] = 1 - cspa / ablated
    config = {"variant": "full", "fraction": fraction, "n_tokens": tokens.numel()}
    return HeadScore("cspa", values, {"tokens": tokens.cpu()}, config)


def _check(tokens: Tensor, fraction: float, batch_size: int) -> None:
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise UsageError(f"tokens must be [batch, pos] with pos >= 2, got {tuple(tokens.shape)}")
    if not 0 < fraction <= 1 or batch_size < 1:
        raise UsageError(
            f"fraction must be in (0, 1] and batch_size positive, got {fraction}, {batch_size}"
        )


def _cspa_batch(model, chunk, heads, means, seq, kl, filters):
    fn_tokens, directions, fraction, neighbours = filters
    layers = sorted({layer for layer, _ in heads})
    names = _cache_names(model, layers)
    logits, cache = model.run_with_cache(chunk, names_filter=lambda n: n in names)
    scale = cache["ln_final.hook_scale"] if "ln_final.hook_scale" in cache else torch.ones(1)
    scale = scale.to(logits.device)
    clean_logp = logits.float().log_softmax(-1)
    sem = chunk[..., None] if neighbours is None else neighbours.to(chunk.device)[chunk]
    for layer in layers:
        lens_resid = final_norm_frozen(model, cache[f"blocks.{layer}.hook_resid_pre"], scale)
        u = directions.T[sem]  # [b, src, k_sem, d_model]
        lens = torch.einsum("bdm,bskm->bdsk", lens_resid, model.W_U.T[sem])
        keep = qk_filter_mask(lens, chunk, fn_tokens, fraction)  # [b, dst, src, k]
        vo = _head_outputs(model, layer, cache)
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        for lay, head in heads:
            if lay != layer:
                continue
            mean = means[layer][:seq, head]  # [d, m]
            moved = pattern[:, head, :, :, None] * (vo[:, None, :, head] - mean[None, :, None])
            kept = _negative_projection(moved, u, keep)  # [b, d, m]
            output = torch.einsum("bds,bsm->bdm", pattern[:, head], vo[:, :, head])
            for i, new in enumerate((mean[None].expand_as(output), mean[None] + kept)):
                delta = final_norm_frozen(model, new - output, scale) @ model.W_U
                kl[(lay, head)][i] += _kl_sum(clean_logp, logits + delta)


def _negative_projection(moved: Tensor, u: Tensor, keep: Tensor) -> Tensor:
    """Sum over sources of the negative components of ``moved`` [b, d, s, m] along the kept
    directions ``u`` [b, s, k, m] (orthonormalised per source when k > 1)."""
    if u.shape[2] > 1:
        u = torch.linalg.qr(u.transpose(-1, -2)).Q.transpose(-1, -2)
    coeff = torch.einsum("bdsm,bskm->bdsk", moved, u).clamp(max=0) * keep
    return torch.einsum("bdsk,bskm->bdm", coeff, u)
