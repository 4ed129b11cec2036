"""Copy-suppression scores: copy-suppression-preserving ablation (CSPA), OV part.

Source: McDougall, Conmy, Rushing, McGrath and Nanda (2023), "Copy Suppression:
Comprehensively Understanding an Attention Head" (arXiv 2310.04625, section 4), which Tigges et
al. (2024) use to find copy-suppression heads in Pythia. We implement its OV projection
ablation; its QK part (keeping only attention to tokens the model already predicts) is not
applied, so this is an upper bound on the full CSPA score.

For head ``h`` in layer ``L`` on a token batch, the head's output at destination ``d`` is a sum
over sources ``s``: ``o_d = sum_s A[d, s] * vo_s`` with ``vo_s = v_s W_O`` (exactly
``hook_result``). Let ``u_s`` be the unit unembedding direction ``W_U[:, t_s] / |W_U[:, t_s]|`` of
the source token. The copy-suppression part keeps only negative components along the attended
token's own unembedding::

    cs_d = sum_s A[d, s] * min(0, <vo_s, u_s>) * u_s

CSPA replaces ``o_d`` by ``cs_d + mean(o - cs)`` (the rest mean-ablated over the batch and all
positions); mean ablation replaces it by ``mean(o)``. With ``KL`` the mean over positions of
KL(clean next-token distribution || patched one)::

    cspa_score = 1 - KL(CSPA) / KL(mean ablation)

1 means the head's whole effect is suppressing the tokens it attends to; 0 means none of it is
(a head that copies, i.e. writes positively along ``u_s``, scores 0). NaN where mean ablation
changes nothing (KL below 1e-12).

Example:
    >>> score = cspa_scores(model, batch_size=8)   # doctest: +SKIP
    >>> score.values.shape                          # [n_layers, n_heads]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mechcirc.errors import UsageError
from mechcirc.measures.attention_scores import RepeatedTokens, repeated_tokens
from mechcirc.measures.result import HeadScore
from mechcirc.measures.weights import expand_kv
from mechcirc.models.hooks import enable_analysis_hooks

__all__ = ["cspa_scores", "head_parts", "suppression_part"]


def _batches(tokens: Tensor, batch_size: int):
    for start in range(0, len(tokens), batch_size):
        yield tokens[start : start + batch_size]


def _source_parts(model, layer: int, tokens: Tensor, cache):
    """Pattern ``A`` [b, h, d, s], ``vo`` [b, s, h, d_model], ``min(0, <vo_s, u_s>)`` [b, s, h]
    and ``u`` [b, s, d_model] of every head of ``layer``."""
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"]  # [b, h, d, s]
    values = expand_kv(model, cache[f"blocks.{layer}.attn.hook_v"], head_dim=2)  # [b, s, h, e]
    vo = torch.einsum("bshe,hem->bshm", values, model.W_O[layer])
    unembed = F.normalize(model.W_U.T[tokens], dim=-1)  # [b, s, d_model]
    along = torch.einsum("bshm,bsm->bsh", vo, unembed).clamp(max=0)
    return pattern, vo, along, unembed


def head_parts(
    model, layer: int, tokens: Int[Tensor, "batch pos"], cache
) -> tuple[Float[Tensor, "batch pos head d_model"], Float[Tensor, "batch pos head d_model"]]:
    """Each head's output ``o`` and its copy-suppression part ``cs`` at every destination."""
    pattern, vo, along, unembed = _source_parts(model, layer, tokens, cache)
    output = torch.einsum("bhds,bshm->bdhm", pattern, vo)
    return output, _suppression(pattern, along, unembed)


def suppression_part(
    model, layer: int, tokens: Int[Tensor, "batch pos"], cache
) -> Float[Tensor, "batch pos head d_model"]:
    """Only the copy-suppression part ``cs`` of :func:`head_parts` (no output ``o``)."""
    pattern, _, along, unembed = _source_parts(model, layer, tokens, cache)
    return _suppression(pattern, along, unembed)


def _suppression(pattern: Tensor, along: Tensor, unembed: Tensor) -> Tensor:
    """``cs_d = sum_s A[d, s] * min(0, <vo_s, u_s>) * u_s`` for every head: [b, d, h, d_model]."""
    return torch.einsum("bhds,bsh,bsm->bdhm", pattern, along, unembed)


def _pattern_and_v(model, tokens: Tensor):
    names = set()
    for layer in range(model.cfg.n_layers):
        names |= {f"blocks.{layer}.attn.hook_pattern", f"blocks.{layer}.attn.hook_v"}
    return model.run_with_cache(tokens, names_filter=lambda name: name in names)


def _means(model, tokens: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """Mean over the data of each head's output and of its non-copy-suppression rest."""
    shape = (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_model)
    out_sum = torch.zeros(shape, dtype=torch.float64, device=model.W_U.device)
    rest_sum = torch.zeros_like(out_sum)
    for batch in _batches(tokens, batch_size):
        _, cache = _pattern_and_v(model, batch)
        for layer in range(model.cfg.n_layers):
            output, suppression = head_parts(model, layer, batch, cache)
            out_sum[layer] += output.double().sum(dim=(0, 1))
            rest_sum[layer] += (output - suppression).double().sum(dim=(0, 1))
    count = tokens.numel()
    return (out_sum / count).to(model.W_U.dtype), (rest_sum / count).to(model.W_U.dtype)


def _kl_sum(clean_logp: Tensor, logits: Tensor) -> float:
    patched = logits.float().log_softmax(-1)
    return float(F.kl_div(patched, clean_logp, log_target=True, reduction="none").sum())


def _replace_head(layer: int, head: int, ablated: Tensor, kept: Tensor):
    """Hook for a doubled batch: first half gets the mean-ablated output, second half CSPA's."""

    def hook(result: Tensor, hook) -> Tensor:
        result = result.clone()
        half = result.shape[0] // 2
        result[:half, :, head] = ablated
        result[half:, :, head] = kept
        return result

    return [(f"blocks.{layer}.attn.hook_result", hook)]


@torch.no_grad()
def cspa_scores(
    model,
    tokens: Int[Tensor, "batch pos"] | None = None,
    *,
    data: RepeatedTokens | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> HeadScore:
    """CSPA (OV part) score of every head on ``tokens`` (default: repeated random tokens)."""
    if batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size}")
    if tokens is None:
        tokens = repeated_tokens(model, data or RepeatedTokens())
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise UsageError(f"tokens must be [batch, pos] with pos >= 2, got {tuple(tokens.shape)}")
    with enable_analysis_hooks(model):
        return _cspa(model, tokens.to(model.W_U.device), batch_size, progress)


def _cspa(model, tokens, batch_size: int, progress: bool) -> HeadScore:
    mean_out, mean_rest = _means(model, tokens, batch_size)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    kl_ablate = torch.zeros(n_layers, n_heads, dtype=torch.float64)
    kl_cspa = torch.zeros_like(kl_ablate)
    batches = list(_batches(tokens, batch_size))
    for batch in tqdm(batches, disable=not progress, desc="cspa"):
        logits, cache = _pattern_and_v(model, batch)
        clean_logp = logits.float().log_softmax(-1)
        doubled = torch.cat([batch, batch])  # one forward for both ablations of a head
        for layer in range(n_layers):
            suppression = suppression_part(model, layer, batch, cache)
            for head in range(n_heads):
                kept = suppression[:, :, head] + mean_rest[layer, head]
                hooks = _replace_head(layer, head, mean_out[layer, head], kept)
                ablated, cspa = model.run_with_hooks(doubled, fwd_hooks=hooks).chunk(2)
                kl_ablate[layer, head] += _kl_sum(clean_logp, ablated)
                kl_cspa[layer, head] += _kl_sum(clean_logp, cspa)
    values = torch.where(kl_ablate > 1e-12 * tokens.numel(), 1 - kl_cspa / kl_ablate, torch.nan)
    config = {"kl_ablate": (kl_ablate / tokens.numel()).tolist(), "variant": "ov-projection"}
    return HeadScore("cspa", values.float(), {"tokens": tokens.cpu()}, config)
