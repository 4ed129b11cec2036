"""The ``eap`` sweep analysis: each task's circuit by EAP-IG, its faithfulness, and its edges.

Each task runs :func:`mechcirc.analyses.eap.find_circuit` into the sub-run ``eap/<task>/``,
which is a complete ``mechcirc eap`` run folder (same config and inputs as the command would
record, so ``mechcirc rerun`` reproduces it). At a model's final checkpoint the sub-run also
holds ``attention.json`` (:mod:`mechcirc.sweep.attention`). Rows go to ``circuits.parquet``
(one per unit and task) and ``edges.parquet`` (the circuit's edges plus the top
``plan.edges_top_k`` edges by ``|score|``).
"""

from __future__ import annotations

from typing import Any

import torch

from mechcirc.analyses.eap import EAPConfig, find_circuit
from mechcirc.graph import CircuitGraph
from mechcirc.models.summary import describe_model
from mechcirc.sweep.attention import attention_entry
from mechcirc.sweep.plan import SweepPlan, task_label
from mechcirc.sweep.registry import SweepAnalysis, UnitContext, UnitRecord
from mechcirc.tasks.spec import TaskSpec

__all__ = ["EAPAnalysis", "eap_config", "edge_rows"]


def eap_config(plan: SweepPlan) -> EAPConfig:
    """The :class:`EAPConfig` every unit of ``plan`` runs."""
    return EAPConfig(
        method=plan.method,
        ig_steps=plan.ig_steps,
        batch_size=plan.batch_size,
        criterion=plan.criterion,
        target=plan.target,
        search_step=plan.search_step,
        search_cap=plan.search_cap,
    )


class EAPAnalysis(SweepAnalysis):
    """Circuits over training (``circuits.parquet``, ``edges.parquet``, ``attention.json``)."""

    name = "eap"
    tables = ("circuits", "edges")

    def check(self, plan: SweepPlan) -> None:
        eap_config(plan)  # raises UsageError naming a bad method or criterion

    def run(self, ctx: UnitContext) -> None:
        config = eap_config(ctx.plan)
        for task in ctx.plan.tasks:
            inputs = {
                "model": ctx.model_spec.to_dict(),
                "task": TaskSpec(task, n=ctx.plan.n, seed=ctx.plan.seed).to_dict(),
            }
            with ctx.sub_run(
                f"eap/{task_label(task)}", command="eap", config=config.to_dict(), inputs=inputs
            ) as run:
                run.update(model=describe_model(ctx.model))
                torch.manual_seed(ctx.plan.seed)  # as `mechcirc eap` does
                result = find_circuit(ctx.model, ctx.pairs[task], config, run, progress=False)
                if ctx.is_final:
                    entry = attention_entry(
                        ctx.model, ctx.pairs[task], result.circuit, ctx.plan, ctx.unit
                    )
                    run.save_json("attention.json", {**entry, "task": task_label(task)})

    def rows(self, record: UnitRecord) -> dict[str, list[dict[str, Any]]]:
        circuits, edges = [], []
        for task in record.plan.tasks:
            folder = f"eap/{task_label(task)}"
            found = record.read_json(f"{folder}/faithfulness.json")
            keys = {**record.keys(), "task": task_label(task)}
            circuits.append(_circuit_row(keys, found))
            graph = CircuitGraph.load_safetensors(record.path / folder / "scores.safetensors")
            edge_keys = {k: keys[k] for k in ("model", "revision", "step", "task")}
            edges += [{**edge_keys, **row} for row in edge_rows(graph, record.plan.edges_top_k)]
        return {"circuits": circuits, "edges": edges}


def _circuit_row(keys: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    gap = found["baseline_gap"]
    return {
        **keys,
        "method": found["method"],
        "criterion": found["criterion"],
        "n_edges": found["n_edges"],
        "n_nodes": found["n_nodes_in_circuit"],
        "faithfulness_normalized": found["normalized"],
        "fraction_of_clean": found["fraction_of_clean"],
        "target_reached": found["target_reached"],
        "baseline_reliable": gap["reliable"],
        "n_edges_total": found["n_edges_total"],
        "metric": found["metric"],
        "selection": found["selection"],
        "clean": found["clean"],
        "corrupted": found["corrupted"],
        "circuit": found["circuit"],
        "baseline_problem": gap["problem"] or "",
    }


def edge_rows(graph: CircuitGraph, top_k: int) -> list[dict[str, Any]]:
    """The circuit's edges and the ``top_k`` real edges by ``|score|``, largest first:
    ``{"edge", "score", "in_circuit"}`` each."""
    layout = graph.layout
    src, dst = layout.real_edges.nonzero(as_tuple=True)
    scores = graph.scores[src, dst]
    in_circuit = graph.in_graph[src, dst]
    order = torch.sort(scores.abs(), descending=True, stable=True).indices
    keep = torch.zeros_like(in_circuit)
    keep[order[:top_k]] = True
    chosen = order[(keep | in_circuit)[order]].tolist()
    src_names, dst_names = layout.src_names, layout.dst_names
    src_list, dst_list = src.tolist(), dst.tolist()
    return [
        {
            "edge": f"{src_names[src_list[i]]}->{dst_names[dst_list[i]]}",
            "score": float(scores[i]),
            "in_circuit": bool(in_circuit[i]),
        }
        for i in chosen
    ]
