"""The curriculum paper's circuit figures, computed from the curriculum runs and two extra runs.

- Fig. 2 (:func:`attention_graph_run`): a T=8, p=4 model trained from scratch on mini-batches
  of 32; after every update, the query's attention over one fixed sequence (every token 3). The
  figure draws it as a graph at a few updates, each edge coloured by the sign of its last change
  (red: grew, blue: shrank); the summary gives, per position, the share of updates that grew it.
- Fig. 3 (counting zeros): after the p=2 phase of each curriculum run, per test input, the share
  of the attention on the first k positions that lands on zeros, against the share of zeros
  there; and whether z_A encodes the number of zeros (sum mod k + 1): variance explained and a
  nearest-centroid read-out fitted on the p=2 training inputs (:mod:`.circuits`).
- Fig. 4 (:func:`train_embedding_models`): z_A of a d=2 model after p=2, after p=2 -> p=4 and,
  as the control, after p=4 only.
- Fig. 7: the parameter trajectories of the first seed's scratch and curriculum runs, embedded
  jointly in 2-D by PCA, with the switch marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from mechcirc.analyses.training import curriculum_setup as curriculum
from mechcirc.analyses.training import figures
from mechcirc.analyses.training.circuits import (
    cluster_eta2,
    count_code,
    trajectory_pca,
    update_signs,
    zero_attention_share,
    zero_counts,
)
from mechcirc.runs import RunFolder
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
from mechcirc.toys.cross_attention import HookedCrossAttention
from mechcirc.training import TrainConfig, Trainer

__all__ = ["attention_graph_run", "compute", "counting_zeros", "train_embedding_models", "write"]

FIXED_TOKEN = 3  # the paper's Fig. 2 sequence: every token is 3
GRAPH_FRAMES = (1, 2, 3, 64, 640, 3200)  # updates drawn (64 batches of 32 per epoch), and last


@torch.no_grad()
def _read(model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """The query's attention pattern [n, seq] and z_A [n, d] on ``inputs``."""
    _, cache = model.run_with_cache(inputs, names_filter=["attn.hook_pattern", "attn.hook_z"])
    return cache["attn.hook_pattern"], cache["attn.hook_z"]


def _first_curriculum_arm(config) -> curriculum.Arm:
    return next(arm for arm in curriculum.arms(config) if arm.curriculum)


def counting_zeros(config, units: dict) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fig. 3 for every curriculum run: per (arm, seed, stage) the mean zero share, the mean
    share of zeros among the first k, and the count code; plus one arm's per-input panel."""
    rows, panel = [], {}
    for seed in config.seeds:
        _, p2 = curriculum.datasets(config, seed)
        model = HookedCrossAttention(curriculum.model_config(config, seed))
        init = {k: v.clone() for k, v in model.state_dict().items()}
        for arm in curriculum.arms(config):
            unit = units[(arm.name, seed)]
            if unit.switch is None:
                continue
            for stage, state in (("init", init), ("after p=2", unit.switch)):
                model.load_state_dict(state)
                pattern, z_a = _read(model, p2.test_inputs)
                _, z_fit = _read(model, p2.train_inputs)
                share = zero_attention_share(pattern, p2.test_inputs, config.k)
                zeros = zero_counts(p2.test_inputs, config.k).float() / config.k
                has_zero = ~share.isnan()
                rows.append(
                    {
                        "arm": arm.name,
                        "seed": seed,
                        "stage": stage,
                        "zero_attention_share": float(share[has_zero].mean()),
                        "zero_token_share": float(zeros[has_zero].mean()),
                        "attn_first_k": float(pattern[:, : config.k].sum(1).mean()),
                        **count_code(z_fit, p2.train_inputs, z_a, p2.test_inputs, config.k),
                    }
                )
                if stage not in panel and arm == _first_curriculum_arm(config):
                    panel[stage] = pattern[:24]
            panel.setdefault("tokens", p2.test_inputs[:24])
            panel.setdefault("arm", _first_curriculum_arm(config).name)
    return pd.DataFrame(rows), panel


def attention_graph_run(config) -> dict[str, Any] | None:
    """Fig. 2: train a T=8, p=4 model on mini-batches, recording after every update the
    attention of the fixed all-``FIXED_TOKEN`` sequence. None when ``graph_steps`` is 0."""
    if not config.graph_steps:
        return None
    torch.set_num_threads(1)
    seed = config.seeds[0]
    data = SPARSE_MODULAR_ADDITION.build(
        p=curriculum.P_FINAL,
        seq_len=config.graph_seq_len,
        k=config.k,
        n_train=config.n_train,
        n_test=config.n_test,
        seed=seed,
    )
    model = HookedCrossAttention(curriculum.model_config(config, seed, n_ctx=config.graph_seq_len))
    train = TrainConfig(
        steps=config.graph_steps,
        lr=config.graph_lr,
        optimizer="adam",
        batch_size=config.graph_batch_size,
        eval_every=config.graph_steps,
        seed=seed,
        progress=False,
    )
    trainer = Trainer(model, data, train)
    fixed = torch.full((1, config.graph_seq_len), FIXED_TOKEN)
    trace = [_read(model, fixed)[0][0]]
    while trainer.step < config.graph_steps:
        trainer.train_step()
        trace.append(_read(model, fixed)[0][0])
    final = trainer.evaluate()
    return {
        "trace": torch.stack(trace),
        "test_acc": final["test_acc"],
        "train_acc": final["train_acc"],
    }


def train_embedding_models(config) -> dict[str, Any] | None:
    """Fig. 4: z_A of d=2 models (p=2, then each finetuning p from there, and the p=4-only
    control) with their test accuracy and how much of z_A's variance the sum of the first k
    tokens explains. None when ``embedding_steps`` is 0."""
    if not config.embedding_steps:
        return None
    torch.set_num_threads(1)
    seed = config.seeds[0]
    shape = {
        "d_model": config.embedding_d_model,
        "d_mlp": config.embedding_d_mlp,
        "mlp_bias": config.embedding_mlp_bias,
    }
    train = TrainConfig(
        optimizer="adam",
        lr=config.embedding_lr,
        steps=config.embedding_steps,
        batch_size=config.embedding_batch_size,
        eval_every=max(config.eval_every, config.embedding_steps // 20 or 1),
        seed=seed,
        progress=config.progress,
    )

    def fresh() -> HookedCrossAttention:
        return HookedCrossAttention(curriculum.model_config(config, seed, **shape))

    pretrained = fresh()
    stages = [("after p=2", pretrained, curriculum.split(config, curriculum.P_PRETRAIN, seed))]
    for p in config.embedding_finetune_ps:
        stages.append((f"after p=2 -> p={p}", None, curriculum.split(config, p, seed)))
    if config.embedding_control:
        stages.append(("p=4 only (control)", fresh(), curriculum.split(config, 4, seed)))
    panels, measures, state = [], {}, None
    for stage, net, data in stages:
        if net is None:  # a finetuning stage starts from the p=2 weights
            net = fresh()
            net.load_state_dict(state)
        metrics = Trainer(net, data, train).fit()
        if net is pretrained:
            state = {k: v.clone() for k, v in net.state_dict().items()}
        _, z_a = _read(net, data.test_inputs)
        sums = data.test_inputs[:, : config.k].sum(1)
        accuracy = float(metrics["test_acc"].iloc[-1])
        measures[stage] = {"test_acc": accuracy, "eta2_sum": cluster_eta2(z_a, sums)}
        panels.append((z_a.numpy(), sums.numpy(), f"{stage} (test acc {accuracy:.2f})"))
    return {"panels": panels, "measures": {"d_model": config.embedding_d_model, **measures}}


def _trajectories(config, units: dict) -> dict[str, Any] | None:
    seed = config.seeds[0]
    chosen = [arm for arm in curriculum.arms(config)[:3]]
    snapshots = {arm.name: units[(arm.name, seed)].parameters for arm in chosen}
    if any(s is None for s in snapshots.values()):
        return None
    coordinates, explained = trajectory_pca(snapshots)
    switches = {
        arm.name: units[(arm.name, seed)].steps.index(config.pretrain_steps)
        for arm in chosen
        if arm.curriculum
    }
    return {"coordinates": coordinates, "explained": explained, "switch_index": switches}


def _graph_summary(config, graph: dict[str, Any]) -> dict[str, Any]:
    _, grew = update_signs(graph["trace"])
    final = graph["trace"][-1]
    return {
        "steps": config.graph_steps,
        "test_acc": graph["test_acc"],
        "train_acc": graph["train_acc"],
        "share_of_updates_growing_first_k": float(grew[: config.k].mean()),
        "share_of_updates_growing_rest": float(grew[config.k :].mean()),
        "final_attention_first_k": float(final[: config.k].sum()),
        "grew_by_position": grew.tolist(),
    }


def compute(config, units: dict, embedding: dict | None, graph: dict | None) -> dict[str, Any]:
    """Everything the figures need, and their numbers for ``summary.json``."""
    counting, panel = counting_zeros(config, units)
    trajectory = _trajectories(config, units)
    summary: dict[str, Any] = {
        "counting_zeros": counting.to_dict("records"),
    }
    if embedding is not None:
        summary["embedding_d2"] = embedding["measures"]
    if graph is not None:
        summary["attention_graph"] = _graph_summary(config, graph)
    if trajectory is not None:
        summary["trajectory_pca_explained"] = trajectory["explained"].tolist()
    return {
        "summary": summary,
        "counting": counting,
        "counting_panel": panel,
        "embedding": embedding,
        "graph": graph,
        "trajectory": trajectory,
        "config": config,
    }


def write(views: dict[str, Any], run: RunFolder) -> None:
    config = views["config"]
    run.save_table("counting_zeros.parquet", views["counting"])
    panel = views["counting_panel"]
    if panel:
        fig = figures.counting_heatmap(
            panel["tokens"].numpy(),
            {stage: panel[stage].numpy() for stage in ("init", "after p=2") if stage in panel},
            config.k,
            f"Attention per p=2 input (rows), {panel['arm']}, seed {config.seeds[0]}",
        )
        figures.save_figure(fig, run, "counting_zeros")
    if views["embedding"] is not None:
        title = (
            f"z_A of a d={config.embedding_d_model} model, coloured by the sum of the first "
            f"k={config.k} tokens"
        )
        figures.save_figure(
            figures.embedding_scatter(views["embedding"]["panels"], title), run, "embedding_d2"
        )

    graph = views["graph"]
    if graph is not None:
        run.save_tensors("attention_graph.safetensors", {"trace": graph["trace"]})
        frames = [s for s in GRAPH_FRAMES if s < len(graph["trace"])] + [len(graph["trace"]) - 1]
        fig = figures.attention_graph(graph["trace"].numpy(), frames, FIXED_TOKEN, config.k)
        figures.save_figure(fig, run, "attention_graph")
    trajectory = views["trajectory"]
    if trajectory is not None:
        tensors = {f"{name}.xy": xy for name, xy in trajectory["coordinates"].items()}
        run.save_tensors("trajectory.safetensors", tensors | {"explained": trajectory["explained"]})
        fig = figures.trajectory_plot(
            {name: xy.numpy() for name, xy in trajectory["coordinates"].items()},
            trajectory["switch_index"],
            np.asarray(trajectory["explained"]),
            f"Parameter trajectories (T={config.seq_len}, seed {config.seeds[0]}), joint PCA",
        )
        figures.save_figure(fig, run, "trajectory")
