"""Curriculum: the quick run end to end, arm labels, and the circuit measures of Figs. 2, 3, 4
and 7 on hand tables and a constructed model with known answers."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mechcirc.analyses.training.circuits import (
    cluster_eta2,
    count_code,
    nearest_centroid_accuracy,
    trajectory_pca,
    update_signs,
    zero_attention_share,
    zero_counts,
)
from mechcirc.analyses.training.curriculum import run_curriculum, slug
from mechcirc.analyses.training.curriculum_setup import CurriculumConfig, arms, datasets
from mechcirc.checkpoints import load_checkpoint
from mechcirc.cli import main
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention


@pytest.mark.slow
def test_curriculum_quick_run_writes_consistent_outputs(tmp_path):
    out = tmp_path / "curriculum"
    assert main(["experiment", "curriculum", "--quick", "--out", str(out)]) == 0
    config = CurriculumConfig.preset("quick")
    names = [a.name for a in arms(config)]
    for stem in (
        "accuracy",
        "barrier",
        "attention_scratch",
        "attention_curriculum",
        "attention_notebook",
        "embedding_d2",
        "attention_graph",
        "counting_zeros",
        "trajectory",
    ):
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.svg").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "done"
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.name != "manifest.json"}
    assert {f for f in files if "." in f} == set(manifest["outputs"])
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(metrics["arm"].unique()) == names
    total = config.pretrain_steps + config.finetune_steps
    for name in names:
        rows = metrics[metrics["arm"] == name]
        assert rows["step"].max() == total and rows["step"].is_monotonic_increasing
        if "curriculum" in name:  # p=2 phase up to the switch, p=4 after it
            assert rows.loc[rows["phase"] == "p=2", "step"].max() == config.pretrain_steps
            assert rows.loc[rows["phase"] == "p=4", "step"].min() > config.pretrain_steps
    summary = json.loads((out / "summary.json").read_text())
    assert [row["arm"] for row in summary["arms"]] == names
    finals = metrics.groupby("arm").tail(1).set_index("arm")
    for row in summary["arms"]:
        assert row["p4_test_acc_by_seed"] == {
            "0": pytest.approx(finals.loc[row["arm"], "p4_test_acc"])
        }
    # The attention probe records every eval step once, in order (no repeat at the switch).
    attention = load_file(out / "attention.safetensors")
    for name in names:
        steps = attention[f"{slug(name)}.seed0.step"]
        assert steps.tolist() == metrics.loc[metrics["arm"] == name, "step"].tolist()
        assert len(attention[f"{slug(name)}.seed0.pattern"]) == len(steps)
    # The barrier's end points are the two final models; the saved checkpoint (the one format)
    # reproduces the scratch model's p=4 train loss.
    barrier = pd.read_parquet(out / "barrier.parquet")
    train = barrier[(barrier["split"] == "train") & (barrier["pair"] == "paper")]
    assert train.set_index("t")["loss"][0.0] == pytest.approx(
        finals.loc[names[0], "train_loss"], rel=1e-4
    )
    assert train.set_index("t")["loss"][1.0] == pytest.approx(
        finals.loc[names[1], "train_loss"], rel=1e-4
    )
    checkpoint = load_checkpoint(out / "checkpoints" / f"{slug(names[0])}-seed0.safetensors")
    model = HookedCrossAttention(CrossAttentionConfig.from_dict(checkpoint.metadata["model"]))
    model.load_state_dict(checkpoint.model)
    p4, _ = datasets(config, 0)
    with torch.no_grad():
        loss = float(F.cross_entropy(model(p4.train_inputs), p4.train_labels))
    assert loss == pytest.approx(finals.loc[names[0], "train_loss"], rel=1e-4)
    assert len(summary["counting_zeros"]) == 4  # two curriculum arms x (init, after p=2)
    assert set(summary["embedding_d2"]) == {
        "d_model",
        "after p=2",
        "after p=2 -> p=4",
        "after p=2 -> p=3",
        "p=4 only (control)",
    }
    graph = load_file(out / "attention_graph.safetensors")["trace"]
    assert graph.shape == (config.graph_steps + 1, config.graph_seq_len)


def test_arms_put_the_papers_setting_first_and_label_the_notebook_schedule():
    found = [(a.name, a.pretrain_lr, a.lr) for a in arms(CurriculumConfig())]
    assert found == [
        ("scratch lr=0.001 (paper's setting)", None, 1e-3),
        ("curriculum 0.001->0.001 (paper's setting)", 1e-3, 1e-3),
        ("curriculum 0.001->0.01 (authors' notebook)", 1e-3, 1e-2),
        ("scratch lr=0.01", None, 1e-2),
        ("curriculum 0.01->0.01", 1e-2, 1e-2),
    ]


def test_zero_attention_share_on_a_hand_table():
    tokens = torch.tensor([[0, 1, 0, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1, 1]])
    pattern = torch.tensor(
        [
            [0.3, 0.1, 0.3, 0.1, 0.1, 0.05, 0.05],  # zeros at 0 and 2: 0.6 of the first-k 0.9
            [0.2, 0.2, 0.2, 0.2, 0.1, 0.05, 0.05],  # no zero among the first k: NaN
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.25, 0.25],  # all zeros: share 1
        ]
    )
    share = zero_attention_share(pattern, tokens, k=5)
    assert share[0] == pytest.approx(0.6 / 0.9)
    assert math.isnan(share[1]) and share[2] == pytest.approx(1.0)
    assert zero_counts(tokens, 5).tolist() == [2, 0, 5]


def test_a_constructed_counting_model_attends_to_the_zeros_among_the_first_k():
    """Hand-set weights: token 0 -> e0, token 1 -> e1, positions < k -> e2, others -> e3, and a
    query along e0 + e2: only zeros among the first k score high, so the zero share is ~1."""
    k, seq = 5, 8
    model = HookedCrossAttention(CrossAttentionConfig(d_vocab=2, n_ctx=seq, d_model=4, seed=0))
    eye = torch.eye(4)
    with torch.no_grad():
        model.W_E.copy_(eye[:2])
        model.W_pos.copy_(torch.stack([eye[2] if t < k else eye[3] for t in range(seq)]))
        model.attn.W_Q.copy_(40.0 * (eye[0] + eye[2]))
    tokens = torch.randint(0, 2, (64, seq), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0  # at least one zero among the first k
    _, cache = model.run_with_cache(tokens, names_filter="attn.hook_pattern")
    share = zero_attention_share(cache["attn.hook_pattern"], tokens, k)
    assert share.min() > 0.999
    # With the query along e1 + e2 instead it counts ones: the zero share drops to ~0 wherever
    # there is a one among the first k.
    with torch.no_grad():
        model.attn.W_Q.copy_(40.0 * (eye[1] + eye[2]))
    _, cache = model.run_with_cache(tokens, names_filter="attn.hook_pattern")
    share = zero_attention_share(cache["attn.hook_pattern"], tokens, k)
    has_one = (tokens[:, :k] == 1).any(1)
    assert share[has_one].max() < 1e-3


def test_count_code_reads_a_planted_count_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 2, (400, 8), generator=generator)
    counts = zero_counts(tokens, 5).float()
    direction = torch.tensor([1.0, -2.0, 0.5])
    planted = counts[:, None] * direction + 0.01 * torch.randn(400, 3, generator=generator)
    found = count_code(planted[:200], tokens[:200], planted[200:], tokens[200:], k=5)
    assert found["count_readout_acc"] == 1.0 and found["eta2_count"] > 0.999
    noise = torch.randn(400, 3, generator=generator)
    found = count_code(noise[:200], tokens[:200], noise[200:], tokens[200:], k=5)
    assert found["eta2_count"] < 0.1 and found["count_readout_acc"] < 0.6
    assert found["chance"] == pytest.approx(
        float(zero_counts(tokens[200:], 5).bincount().max() / 200)
    )


def test_nearest_centroid_accuracy_on_a_hand_table():
    fit = torch.tensor([[0.0], [0.2], [10.0], [10.2]])
    labels = torch.tensor([0, 0, 1, 1])
    points, truth = torch.tensor([[1.0], [9.0], [4.0]]), torch.tensor([0, 1, 1])
    assert nearest_centroid_accuracy(fit, labels, points, truth) == pytest.approx(2 / 3)


def test_cluster_eta2_on_known_clusterings():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    tight = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    assert cluster_eta2(tight, labels) == pytest.approx(1.0)
    mixed = torch.tensor(
        [[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [3.0, 0.0], [-3.0, 0.0]]
    )
    assert cluster_eta2(mixed, labels) == pytest.approx(0.0)
    # Total sum of squares 20 about the mean 3, 4 of it within the labels (means 1 and 5).
    half = torch.tensor([[0.0], [2.0], [4.0], [6.0]])
    assert cluster_eta2(half, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.8)


def test_update_signs_on_a_hand_trace():
    trace = torch.tensor([[0.5, 0.5], [0.6, 0.4], [0.55, 0.45], [0.7, 0.3]])
    signs, grew = update_signs(trace)
    assert signs.tolist() == [[1, -1], [-1, 1], [1, -1]]
    assert grew.tolist() == pytest.approx([2 / 3, 1 / 3])


def test_trajectory_pca_on_planted_trajectories():
    """Two runs moving along one direction, one of them also along a second, smaller one."""
    t = torch.linspace(0, 1, 11)[:, None]
    u, v = torch.zeros(50), torch.zeros(50)
    u[3], v[7] = 1.0, 1.0
    runs = {"a": 10 * t * u, "b": 10 * t * u + 2 * t * v}
    coordinates, explained = trajectory_pca(runs)
    assert explained.sum() == pytest.approx(1.0, abs=1e-5)
    assert explained[0] > 0.9
    # Distances along each trajectory are preserved by the (full-rank) 2-D projection.
    for name, run in runs.items():
        torch.testing.assert_close(
            torch.cdist(coordinates[name], coordinates[name]),
            torch.cdist(run, run),
            atol=1e-4,
            rtol=0,
        )


def test_curriculum_in_memory_without_the_figures_extra_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = CurriculumConfig.preset("quick").replace(
        embedding_steps=0, graph_steps=0, trajectory=False, seq_len=8
    )
    result = run_curriculum(config)
    assert {"embedding_d2", "attention_graph", "trajectory_pca_explained"}.isdisjoint(
        result.summary
    )
    assert result.summary["seq_len"] == 8 and len(result.summary["counting_zeros"]) == 4
    assert list(tmp_path.iterdir()) == []


def test_p2_at_t8_trains_on_every_sequence():
    from mechcirc.analyses.training.curriculum_setup import split

    data = split(CurriculumConfig(seq_len=8), 2, seed=0)
    assert data.n_train == 256 and len({tuple(x) for x in data.train_inputs.tolist()}) == 256
    assert torch.equal(data.test_inputs, data.train_inputs)
    p4 = split(CurriculumConfig(seq_len=8), 4, seed=0)
    assert (p4.n_train, p4.n_test) == (2048, 2048)
