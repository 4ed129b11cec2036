"""Independent, straightforward reference implementations for the EAP tests.

They use TransformerLens's own per-head hooks (split q/k/v inputs, per-head results,
``hook_mlp_in``) instead of mechcirc's q/k/v recomputation and hand-written norm backward,
and patch or differentiate one destination input at a time.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import torch

from mechcirc.graph import GraphLayout
from mechcirc.models.tiny import tiny_model, tiny_tokenizer
from mechcirc.tasks import PromptPairs, load_pairs

ARCHS = ("gpt-neox", "llama")


@functools.cache
def _model(arch: str, dtype: torch.dtype, processing: str):
    model = tiny_model(arch, n_layers=2, seed=1, processing=processing).to(dtype)
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def private_model(arch: str, dtype: torch.dtype = torch.float32, processing: str = "none"):
    """A 2-layer tiny model private to these tests (the reference switches its hook flags),
    parameters frozen, no hooks left on it."""
    model = _model(arch, dtype, processing)
    model.reset_hooks()
    return model


@contextmanager
def split_heads(model):
    """TransformerLens's per-head input/output hooks, switched off again afterwards."""
    model.set_use_split_qkv_input(True)
    model.set_use_attn_result(True)
    model.set_use_hook_mlp_in(True)
    try:
        yield model
    finally:
        model.set_use_split_qkv_input(False)
        model.set_use_attn_result(False)
        model.set_use_hook_mlp_in(False)
        model.reset_hooks()


def metric(model, tokens, pairs: PromptPairs, fwd_hooks=()) -> torch.Tensor:
    with model.hooks(fwd_hooks=list(fwd_hooks)):
        logits = model(tokens)
    return pairs.evaluate(logits)


def sources(model, tokens) -> torch.Tensor:
    """``[n_src, batch, pos, d_model]`` from TransformerLens's cache (split_heads on)."""
    names = ["blocks.0.hook_resid_pre"]
    for layer in range(model.cfg.n_layers):
        names += [f"blocks.{layer}.attn.hook_result", f"blocks.{layer}.hook_mlp_out"]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    rows = [cache["blocks.0.hook_resid_pre"][None]]
    for layer in range(model.cfg.n_layers):
        rows += [cache[f"blocks.{layer}.attn.hook_result"].permute(2, 0, 1, 3)]
        rows += [cache[f"blocks.{layer}.hook_mlp_out"][None]]
    return torch.cat(rows).detach()


def destination_hook(layout: GraphLayout, dst: int) -> tuple[str, int | None]:
    """The split-heads hook name of a destination and the head index inside it."""
    name = layout.dst_names[dst]
    if name == "logits":
        return "ln_final.hook_in", None
    if name.startswith("m"):
        return f"blocks.{name[1:]}.hook_mlp_in", None
    layer, rest = name[1:].split(".h")
    head, kind = rest[:-3], rest[-2]
    return f"blocks.{layer}.hook_{kind}_input", int(head)


def patched_metric(model, pairs, layout, src, dst, delta, scale=1.0) -> torch.Tensor:
    """Metric with destination ``dst``'s input shifted by ``-scale * delta[src]``."""
    name, head = destination_hook(layout, dst)

    def hook(x, hook):
        x = x.clone()
        shift = scale * delta[src].to(x.dtype)
        if head is None:
            x -= shift
        else:
            x[:, :, head] -= shift
        return x

    return metric(model, pairs.clean, pairs, [(name, hook)])


def exact_edge_scores(model, pairs: PromptPairs, edges) -> dict[tuple[int, int], float]:
    """metric(clean) - metric(one edge patched), mean over examples, edge by edge."""
    layout = GraphLayout.from_model(model)
    with split_heads(model), torch.no_grad():
        delta = sources(model, pairs.clean) - sources(model, pairs.corrupted)
        clean = metric(model, pairs.clean, pairs)
        return {
            (s, d): float((clean - patched_metric(model, pairs, layout, s, d, delta)).mean())
            for s, d in edges
        }


def gradient_scores(model, pairs: PromptPairs, alpha: float) -> torch.Tensor:
    """Edge scores from the gradient at the input ``corrupted + alpha (clean - corrupted)``."""
    layout = GraphLayout.from_model(model)
    scores = torch.zeros(layout.n_src, layout.n_dst, dtype=torch.float64)
    with split_heads(model):
        with torch.no_grad():
            clean, corrupted = sources(model, pairs.clean), sources(model, pairs.corrupted)
        delta = (clean - corrupted).double()
        grads: dict[int, torch.Tensor] = {}
        hooks = [
            (
                "blocks.0.hook_resid_pre",
                lambda x, hook: torch.lerp(corrupted[0], clean[0], alpha).requires_grad_(True),
            )
        ]
        names = {destination_hook(layout, d)[0] for d in range(layout.n_dst)}
        for name in names:

            def keep(x, hook, name=name):
                branch = x.view_as(x)
                branch.register_hook(lambda g: grads.__setitem__(name, g.double()))
                return branch

            hooks.append((name, keep))
        metric(model, pairs.clean, pairs, hooks).sum().backward()
    for dst in range(layout.n_dst):
        name, head = destination_hook(layout, dst)
        grad = grads[name] if head is None else grads[name][:, :, head]
        n_before = int(layout.real_edges[:, dst].sum())
        scores[:n_before, dst] = torch.einsum("sbpd,bpd->s", delta[:n_before], grad)
    return scores / len(pairs)


def source_hook_rows(layout: GraphLayout) -> dict[str, tuple[int, bool]]:
    """Split-heads hook of each source group -> (first source row, per-head result)."""
    rows = {"blocks.0.hook_resid_pre": (0, False)}
    for layer in range(layout.n_layers):
        rows[f"blocks.{layer}.attn.hook_result"] = (layout.head_src(layer), True)
        rows[f"blocks.{layer}.hook_mlp_out"] = (layout.mlp_src(layer), False)
    return rows


def circuit_metric(model, pairs: PromptPairs, in_graph: torch.Tensor) -> torch.Tensor:
    """Per-example metric of the clean run with every edge outside ``in_graph`` carrying its
    source's corrupted activation: each destination's split-heads input minus the sum over its
    patched sources of (this run's activation - the corrupted run's), the sources read as this
    very run computes them."""
    layout = GraphLayout.from_model(model)
    patched = layout.real_edges & ~in_graph.bool()
    with split_heads(model), torch.no_grad():
        corrupted = sources(model, pairs.corrupted)
        delta = torch.zeros_like(corrupted)

        def record(first: int, per_head: bool):
            def hook(x, hook):
                value = x.permute(2, 0, 1, 3) if per_head else x[None]
                delta[first : first + len(value)] = value - corrupted[first : first + len(value)]

            return hook

        def patch(dst: int, head: int | None):
            def hook(x, hook):
                x = x.clone()
                shift = torch.einsum("s,sbpd->bpd", patched[:, dst].to(delta.dtype), delta)
                if head is None:
                    x -= shift
                else:
                    x[:, :, head] -= shift
                return x

            return hook

        hooks = [(name, record(*row)) for name, row in source_hook_rows(layout).items()]
        for dst in range(layout.n_dst):
            if patched[:, dst].any():
                name, head = destination_hook(layout, dst)
                hooks.append((name, patch(dst, head)))
        return metric(model, pairs.clean, pairs, hooks)


def random_pairs(n: int = 6, n_tokens: int = 7, seed: int = 0) -> PromptPairs:
    """Random prompts; the corrupted one differs at one position; two fixed answers."""
    gen = torch.Generator().manual_seed(seed)
    clean = torch.randint(100, 5000, (n, n_tokens), generator=gen)
    corrupted = clean.clone()
    corrupted[:, 2] = torch.randint(100, 5000, (n,), generator=gen)
    mask = torch.ones_like(clean)
    mask[0, -2:] = 0  # one right-padded row
    return PromptPairs(
        clean=clean,
        corrupted=corrupted,
        attention_mask=mask,
        correct=torch.full((n, 1), 11),
        incorrect=torch.full((n, 1), 22),
    )


def ioi_pairs(arch: str, n: int = 8) -> PromptPairs:
    return load_pairs("ioi", tiny_tokenizer(arch), n=n, seed=0)


def count_forwards(model) -> list[int]:
    """A one-element list counting the forwards of ``model`` from now on (a hook on
    ``hook_embed``; remove it with ``model.reset_hooks()``)."""
    calls = [0]

    def count(x, hook):
        calls[0] += 1

    model.hook_dict["hook_embed"].add_hook(count)
    return calls
