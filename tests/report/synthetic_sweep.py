"""Synthetic sweep folders written exactly per SWEEP_CONTRACT.md, and synthetic eap run folders.

The sweep's numbers are planted, not computed by a model: per task a fixed heavy-tailed score
pattern over the real edges of ``GraphLayout(n_layers, n_heads)`` that emerges from noise over
training; the circuit at each checkpoint is the top-n circuit of a size that grows
then settles; head scores rise for planted heads. The evolution table follows the contract's
definitions, computed here from the circuits. With ``components`` (the ``ioi-components``
analysis), planted IOI roles appear over training (:data:`PLANTED_ROLES`) and each role's share
is ``-100 x`` the sum of its heads' effects, as the analysis defines it.

Example:
    >>> spec = SweepSpec(models={"micro": (2, 4)}, steps=(0, 256, 1000), tasks=("ioi",))
    >>> write_synthetic_sweep(tmp_path / "sweep", spec)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mechcirc.graph import CircuitGraph, GraphLayout
from mechcirc.runs import RunFolder

TOKENS_PER_STEP = 2_097_152
HEAD_SCORES = ("induction", "previous_token")
PROMPT = ["When", " Mary", " and", " John", " went", " to", " the", " store", ",", " John", " gave"]


@dataclass(frozen=True)
class SweepSpec:
    models: dict[str, tuple[int, int]]  # name -> (n_layers, n_heads)
    steps: tuple[int, ...]
    tasks: tuple[str, ...] = ("ioi", "greater-than")
    top_edges: int = 2000
    max_circuit: int = 120
    failed_step: int | None = 999  # a planned revision whose unit failed (no table rows)
    components: bool = True  # write components.parquet and ioi_consistency.parquet
    seed: int = 0
    extra: dict = field(default_factory=dict)


def _generator(*keys: int) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(repr(keys).encode()))


def planted_scores(layout: GraphLayout, task_index: int, progress: float, noise_key: int):
    """Heavy-tailed task pattern that emerges from noise as ``progress`` goes 0 -> 1."""
    base = torch.randn(layout.n_src, layout.n_dst, generator=_generator(task_index, 7)) ** 3
    noise = torch.randn(layout.n_src, layout.n_dst, generator=_generator(noise_key, 11))
    return (base * progress + 0.3 * noise * (1 - progress)) * layout.real_edges


def _circuit(layout: GraphLayout, scores: torch.Tensor, size: int) -> CircuitGraph:
    return CircuitGraph(layout, scores).select("topn", n=size, prune=False)


def _nodes(names: set[str]) -> set[str]:
    found = set()
    for name in names:
        src, dst = name.split("->")
        found |= {src, dst.split("<")[0]}
    return found


def _weights(edges: dict[str, float]) -> dict[str, float]:
    total = sum(abs(v) for v in edges.values()) or 1.0
    return {k: abs(v) / total for k, v in edges.items()}


def weighted_jaccard(a: dict[str, float], b: dict[str, float]) -> float:
    wa, wb = _weights(a), _weights(b)
    union = set(wa) | set(wb)
    high = sum(max(wa.get(e, 0), wb.get(e, 0)) for e in union)
    return sum(min(wa.get(e, 0), wb.get(e, 0)) for e in union) / high if high else math.nan


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else math.nan


def evolution_rows(model: str, task: str, circuits: list[tuple[int, dict[str, float]]]) -> list:
    """Contract rows of one (model, task): circuits as (step, {edge: score}) by step."""
    rows, ewma = [], {"prev": 0.0, "final": 0.0}
    final = circuits[-1][1]
    for i, (step, edges) in enumerate(circuits):
        row = {"model": model, "task": task, "step": step, "tokens": step * TOKENS_PER_STEP}
        for against, other in (("prev", circuits[i - 1][1] if i else None), ("final", final)):
            if other is None:
                values = dict.fromkeys(("je", "jn", "wj", "cr", "ed"), math.nan)
            else:
                wj = weighted_jaccard(other, edges)
                ewma[against] = 0.5 * (1 - wj) + 0.5 * ewma[against]
                values = {
                    "je": _jaccard(set(other), set(edges)),
                    "jn": _jaccard(_nodes(set(other)), _nodes(set(edges))),
                    "wj": wj,
                    "cr": ewma[against],
                    "ed": float(len(set(other) ^ set(edges))),
                }
            for key, column in (
                ("je", "jaccard_edges"),
                ("jn", "jaccard_nodes"),
                ("wj", "weighted_jaccard"),
                ("cr", "change_rate_ewma"),
                ("ed", "edit_distance"),
            ):
                row[f"{column}_{against}"] = values[key]
        rows.append(row)
    return rows


# role -> (head as (layer counted from the last, head), effect column, effect at the end,
# progress from which the head holds the role)
PLANTED_ROLES = {
    "name_mover": ((-1, 0), "direct_effect", -0.6, 0.5),
    "negative_name_mover": ((-1, 1), "direct_effect", 0.15, 0.75),
    "s_inhibition": ((-2, 2), "s_inhibition_effect", -0.3, 0.5),
    "induction": ((-2, 3), "value_effect", -0.2, 0.3),
}
SHARE_PARTS = {
    "direct": ("name_mover", "negative_name_mover", "copy_suppression"),
    "induction_duplicate": ("induction", "duplicate_token"),
}
SHARE_ROLES = (
    "name_mover", "negative_name_mover", "copy_suppression", "direct",
    "s_inhibition", "induction", "duplicate_token", "induction_duplicate",
)  # fmt: skip
SHARE_EFFECT = {  # the effect a role's share sums (default: direct_effect)
    "s_inhibition": "s_inhibition_effect",
    "induction": "value_effect",
    "duplicate_token": "value_effect",
    "induction_duplicate": "value_effect",
}
EFFECTS = ("direct_effect", "s_inhibition_effect", "value_effect")


def component_rows(keys: dict, n_layers: int, n_heads: int, progress: float, rng):
    """Rows of ``components`` and ``ioi_consistency`` at one checkpoint (``keys``: model,
    revision, step, tokens)."""
    roles: dict[tuple[int, int], list[str]] = {}
    effects = {e: 0.02 * rng.standard_normal((n_layers, n_heads)) for e in EFFECTS}
    for role, ((layer, head), column, final, start) in PLANTED_ROLES.items():
        effects[column][n_layers + layer, head] = final * progress
        if progress >= start:
            roles.setdefault((n_layers + layer, head), []).append(role)
    components = [
        {**keys, "layer": layer, "head": head, "role": role,
         **{e: float(effects[e][layer, head]) for e in EFFECTS}}
        for layer in range(n_layers)
        for head in range(n_heads)
        for role in roles.get((layer, head), ["none"])
    ]  # fmt: skip
    consistency = []
    for role in SHARE_ROLES:
        parts = SHARE_PARTS.get(role, (role,))
        heads = sorted({h for h, held in roles.items() if set(held) & set(parts)})
        column = SHARE_EFFECT.get(role, "direct_effect")
        share = -100 * sum(float(effects[column][h]) for h in heads)
        consistency.append({**keys, "role": role, "share": share, "n_heads": len(heads)})
    return components, consistency


def _head_value(layer: int, head: int, score_index: int, progress: float, rng) -> float:
    planted = (layer, head) == (1, score_index)  # layer 1 carries each planted score
    return float((0.9 * progress if planted else 0.0) + 0.1 * rng.random())


def _causal_patterns(n_heads: int, n_tokens: int, rng) -> list:
    logits = rng.normal(size=(n_heads, n_tokens, n_tokens))
    logits[:, np.triu_indices(n_tokens, 1)[0], np.triu_indices(n_tokens, 1)[1]] = -np.inf
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)).tolist()


def _unit_tables(spec: SweepSpec, model: str, layout: GraphLayout, t: int, step: int, i: int):
    """Rows of one (model, revision, task): circuits, edges; and its circuit as a dict."""
    revision, tokens = f"step{step}", step * TOKENS_PER_STEP
    progress = (i + 1) / len(spec.steps)
    scores = planted_scores(
        layout, t, progress, zlib.crc32(f"{model}/{t}/{step}".encode()) % 10_000
    )
    size = min(layout.n_edges // 2, max(1, round(spec.max_circuit * min(1.0, 0.3 + progress))))
    circuit = _circuit(layout, scores, size)
    src, dst = layout.real_edges.nonzero(as_tuple=True)
    values = scores[src, dst]
    member = circuit.in_graph[src, dst]
    order = torch.sort(values.abs(), descending=True, stable=True).indices
    keep = member.clone()
    keep[order[: spec.top_edges]] = True
    kept = keep.nonzero().flatten().tolist()
    edges = [
        {
            "model": model,
            "revision": revision,
            "step": step,
            "task": spec.tasks[t],
            "edge": layout.edge_name(int(src[k]), int(dst[k])),
            "score": np.float32(values[k]),
            "in_circuit": bool(member[k]),
        }
        for k in kept
    ]
    faith = 0.4 + 0.5 * progress
    circuit_row = {
        "model": model,
        "revision": revision,
        "step": step,
        "tokens": tokens,
        "task": spec.tasks[t],
        "method": "eap-ig-inputs",
        "criterion": "fraction-of-clean",
        "n_edges": circuit.n_edges_in_graph,
        "n_nodes": sum(circuit.node_in_graph.values()),
        "faithfulness_normalized": faith,
        "fraction_of_clean": faith + 0.05,
        "target_reached": faith + 0.05 >= 0.8,
        "baseline_reliable": step > 0,
        "n_edges_total": layout.n_edges,
    }
    return circuit_row, edges, dict(circuit.in_graph_edges())


def write_synthetic_sweep(path: Path, spec: SweepSpec) -> Path:
    """Write a sweep folder per SWEEP_CONTRACT.md; its path."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    names = ["behaviour", "circuits", "edges", "heads", "evolution"]
    names += ["components", "ioi_consistency"] if spec.components else []
    tables = {name: [] for name in names}
    attention, units = [], []
    for model, (n_layers, n_heads) in spec.models.items():
        layout = GraphLayout(n_layers, n_heads, n_heads, parallel_attn_mlp=True)
        per_task = {task: [] for task in spec.tasks}
        for i, step in enumerate(spec.steps):
            progress, revision = (i + 1) / len(spec.steps), f"step{step}"
            units.append({"model": model, "revision": revision, "step": step, "status": "done"})
            for t, task in enumerate(spec.tasks):
                circuit_row, edges, circuit = _unit_tables(spec, model, layout, t, step, i)
                tables["circuits"].append(circuit_row)
                tables["edges"] += edges
                per_task[task].append((step, circuit))
                clean = 3 * progress - 0.2 + 0.1 * rng.random()
                tables["behaviour"].append(
                    {
                        "model": model,
                        "revision": revision,
                        "step": step,
                        "tokens": step * TOKENS_PER_STEP,
                        "task": task,
                        "metric": "logit_diff",
                        "clean": clean,
                        "corrupted": -0.5 * progress,
                        "accuracy": 0.5 + 0.5 * progress,
                    }
                )
            if spec.components:
                keys = {"model": model, "revision": revision, "step": step}
                keys["tokens"] = step * TOKENS_PER_STEP
                own_rng = np.random.default_rng([spec.seed, i])
                found = component_rows(keys, n_layers, n_heads, progress, own_rng)
                tables["components"] += found[0]
                tables["ioi_consistency"] += found[1]
            for s, score in enumerate(HEAD_SCORES):
                for layer in range(n_layers):
                    for head in range(n_heads):
                        tables["heads"].append(
                            {
                                "model": model,
                                "revision": revision,
                                "step": step,
                                "tokens": step * TOKENS_PER_STEP,
                                "layer": layer,
                                "head": head,
                                "score": score,
                                "value": _head_value(layer, head, s, progress, rng),
                            }
                        )
        for task in spec.tasks:
            tables["evolution"] += evolution_rows(model, task, per_task[task])
            final = per_task[task][-1][1]
            heads = sorted({e.split("->")[0] for e in final if e.startswith("a")})[:3]
            attention.append(
                {
                    "model": model,
                    "revision": f"step{spec.steps[-1]}",
                    "task": task,
                    "heads": heads,
                    "prompts": [
                        {
                            "tokens": PROMPT,
                            "patterns": _causal_patterns(len(heads), len(PROMPT), rng),
                        }
                        for _ in range(2)
                    ],
                }
            )
        if spec.failed_step is not None:
            units.append(
                {
                    "model": model,
                    "revision": f"step{spec.failed_step}",
                    "step": spec.failed_step,
                    "status": "failed",
                    "error": {
                        "type": "ModelLoadError",
                        "message": f"revision step{spec.failed_step} is not in the cache",
                    },
                }
            )
    _write_tables(path, tables)
    (path / "attention.json").write_text(json.dumps(attention))
    _write_plan(path, spec, units)
    return path


def _write_tables(path: Path, tables: dict[str, list[dict]]) -> None:
    for name, rows in tables.items():
        frame = pd.DataFrame(rows)
        for column in ("step", "tokens"):
            if column in frame:
                frame[column] = frame[column].astype("int64")
        if name == "edges":
            frame["score"] = frame["score"].astype("float32")
        frame.to_parquet(path / f"{name}.parquet", index=False)


def _write_plan(path: Path, spec: SweepSpec, units: list[dict]) -> None:
    steps = list(spec.steps) + ([spec.failed_step] if spec.failed_step is not None else [])
    status = {
        "done": sum(u["status"] == "done" for u in units),
        "failed": sum(u["status"] == "failed" for u in units),
        "pending": 0,
        "running": 0,
    }
    meta = {
        "format": "mechcirc-sweep",
        "format_version": 1,
        "plan": {
            "models": list(spec.models),
            "revisions": {m: [f"step{s}" for s in steps] for m in spec.models},
            "tasks": list(spec.tasks),
            "analyses": ["behaviour", "eap", "heads"] + (["ioi-components"] * spec.components),
            "n": 8,
            "seed": spec.seed,
            "ig_steps": 5,
            **spec.extra,
        },
        "versions": {"python": "3.11", "torch": torch.__version__, "mechcirc": "test"},
        "status": status,
        "units": units,
        "updated_at": "2026-11-30T12:00:00+00:00",
    }
    (path / "sweep.json").write_text(json.dumps(meta, indent=2))
    (path / "pairs").mkdir(exist_ok=True)
    for task in spec.tasks:
        record = {
            "task": task,
            "metric": "logit_diff",
            "clean_ids": [1, 2, 3],
            "corrupted_ids": [1, 4, 3],
            "correct_idx": [5],
            "incorrect_idx": [6],
            "positions": {},
        }
        (path / "pairs" / f"{task}.jsonl").write_text(json.dumps(record) + "\n")


def write_synthetic_run(
    path: Path, layout: GraphLayout, *, circuit_edges: int, seed: int = 0
) -> CircuitGraph:
    """An eap run folder (manifest, graph.json, scores.safetensors, faithfulness.json,
    examples.jsonl) around a planted graph whose circuit has ``circuit_edges`` edges."""
    scores = planted_scores(layout, seed, 1.0, seed)
    graph = CircuitGraph(layout, scores, d_model=16)
    circuit = graph.select("greedy", n=circuit_edges)
    sizes = [25 * k for k in range(1, circuit_edges // 25 + 2)]
    curve = [
        {
            "size": n,
            "n_edges": n,
            "circuit": 2.0 * (1 - math.exp(-n / 400)),
            "clean": 2.0,
            "corrupted": 0.0,
            "normalized": 1 - math.exp(-n / 400),
            "fraction_of_clean": 1 - math.exp(-n / 400),
        }
        for n in sizes
    ]
    last = curve[-1]
    inputs = {
        "model": {"name": "synthetic", "revision": "step1000"},
        "task": {"name": "ioi", "n": 4, "seed": 0},
    }
    with RunFolder.create(path, command="eap", config={"method": "eap"}, inputs=inputs) as run:
        circuit.save_json(run.file("graph.json"))
        circuit.save_safetensors(run.file("scores.safetensors"))
        faith = {
            "method": "eap",
            "metric": "logit_diff",
            "ig_steps": None,
            "n_examples": 4,
            "n_edges_total": layout.n_edges,
            "selection": "smallest greedy circuit",
            "criterion": "normalized",
            "target": 0.8,
            "target_reached": True,
            "n_nodes_in_circuit": sum(circuit.node_in_graph.values()),
            "baseline_gap": {
                "clean": 2.0,
                "corrupted": 0.0,
                "gap": 2.0,
                "stderr": 0.1,
                "reliable": True,
                "problem": None,
            },
            "faithfulness_reliable": True,
            **{k: v for k, v in last.items() if k != "size"},
            "n_edges": circuit.n_edges_in_graph,
            "search": curve,
        }
        run.save_json("faithfulness.json", faith)
        records = [
            {
                "task": "ioi",
                "metric": "logit_diff",
                "clean_ids": [10 + i, 11, 12],
                "corrupted_ids": [10 + i, 13, 12],
                "correct_idx": [14],
                "incorrect_idx": [15],
                "positions": {},
            }
            for i in range(4)
        ]
        run.file("examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        run.finish()
    return circuit
