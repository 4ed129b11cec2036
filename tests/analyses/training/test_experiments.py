"""Experiments end to end in quick mode (mechanics), plus their analysis helpers on known data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mechcirc.analyses.training.curriculum import CurriculumConfig, _slug, arms, cluster_eta2
from mechcirc.analyses.training.efficiency import EfficiencyConfig, critical_size, random_labels
from mechcirc.analyses.training.grokking import train_grokking, transition
from mechcirc.cli import main
from mechcirc.tasks import MODULAR_ADDITION, SPARSE_MODULAR_ADDITION
from mechcirc.toys import CrossAttentionConfig, HookedCrossAttention


def manifest(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_curriculum_quick_run_writes_consistent_outputs(tmp_path):
    out = tmp_path / "curriculum"
    assert main(["experiment", "curriculum", "--quick", "--out", str(out)]) == 0
    config = CurriculumConfig.quick()
    for name in (
        "accuracy",
        "barrier",
        "attention_scratch",
        "attention_curriculum",
        "embedding_d2",
    ):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.svg").is_file()
    assert manifest(out)["status"] == "done"
    metrics = pd.read_parquet(out / "metrics.parquet")
    names = [a.name for a in arms(config)]
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
    finals = metrics.groupby("arm").tail(1).set_index("arm")["p4_test_acc"]
    for row in summary["arms"]:
        assert row["p4_test_acc_by_seed"] == {"0": pytest.approx(finals[row["arm"]])}
    for phase in ("after p=2 pretraining", "after p=4 finetuning"):
        assert 0 <= summary["embedding_d2"][phase]["eta2_sum"] <= 1
    # The attention probe records every eval step once, in order (no repeat at the switch).
    attention = load_file(out / "attention.safetensors")
    for name in names:
        steps = attention[f"{_slug(name)}.seed0.step"]
        assert (steps[1:] > steps[:-1]).all()
        assert steps.tolist() == metrics.loc[metrics["arm"] == name, "step"].tolist()
        assert len(attention[f"{_slug(name)}.seed0.pattern"]) == len(steps)
    # The barrier's end points are the two final models: their p=4 train losses.
    barrier = pd.read_parquet(out / "barrier.parquet")
    train = barrier[barrier["split"] == "train"].set_index("t")["loss"]
    finals = metrics.groupby("arm").tail(1).set_index("arm")["train_loss"]
    assert train[0.0] == pytest.approx(finals[names[0]], rel=1e-4)
    assert train[1.0] == pytest.approx(finals[names[1]], rel=1e-4)
    # The saved scratch checkpoint reproduces that loss.
    model = HookedCrossAttention(CrossAttentionConfig(d_vocab=4, seed=0))
    model.load_state_dict(load_file(out / "checkpoints" / "scratch-lr-0.001-seed0.safetensors"))
    data = SPARSE_MODULAR_ADDITION.build(p=4, n_train=config.n_train, n_test=config.n_test)
    with torch.no_grad():
        assert float(F.cross_entropy(model(data.train_inputs), data.train_labels)) == pytest.approx(
            finals[names[0]], rel=1e-4
        )


def test_curriculum_arms_include_the_authors_and_the_same_lr_comparison():
    config = CurriculumConfig(same_lrs=(1e-3, 1e-2))
    assert [(a.pretrain_lr, a.lr) for a in arms(config)] == [
        (None, 1e-3),
        (1e-3, 1e-2),
        (1e-3, 1e-3),
        (None, 1e-2),
        (1e-2, 1e-2),
    ]


def test_transition_on_a_known_table():
    table = pd.DataFrame(
        {
            "step": [0, 100, 200, 300, 900],
            "train_acc": [0.0, 0.995, 1.0, 1.0, 1.0],
            "test_acc": [0.0, 0.1, 0.2, 0.5, 0.97],
        }
    )
    found = transition(table)
    assert found["step_train_acc_0.99"] == 100 and found["step_test_acc_0.95"] == 900
    assert found["delay_steps"] == 800 and found["test_acc_when_train_acc_0.99"] == 0.1
    assert found["grokked"]
    assert not transition(table.assign(test_acc=0.2))["grokked"]


def test_grokking_then_ungrokking_from_its_checkpoint(tmp_path):
    grok = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--out", str(grok)]) == 0
    summary = json.loads((grok / "summary.json").read_text())
    assert summary["n_train"] + summary["n_test"] == 11 * 11
    assert (grok / "checkpoint" / "checkpoint.safetensors").is_file()
    ungrok = tmp_path / "ungrok"
    args = [
        "experiment",
        "ungrokking",
        "--quick",
        "--out",
        str(ungrok),
        "--set",
        f'from_checkpoint="{grok / "checkpoint"}"',
        "--set",
        "train_fraction=0.5",
    ]
    assert main(args) == 0
    table = pd.read_parquet(ungrok / "ungrokking.parquet")
    assert table["train_size"].tolist() == [round(0.2 * 121)]
    # Continued training starts from the loaded weights: its first test accuracy is theirs.
    grok_metrics = pd.read_parquet(grok / "metrics.parquet")
    assert table["test_acc_start"].iloc[0] == pytest.approx(grok_metrics["test_acc"].iloc[-1])


def test_semi_grokking_and_efficiency_quick_runs(tmp_path):
    assert main(["experiment", "semi-grokking", "--quick", "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "semi_grokking.parquet").is_file()
    assert main(["experiment", "efficiency", "--quick", "--out", str(tmp_path / "e")]) == 0
    table = pd.read_csv(tmp_path / "e" / "efficiency.csv")
    assert table["train_size"].tolist() == [round(0.2 * 121), round(0.5 * 121)]
    # Independent check: retrain the first memorising model and measure it here, with the full
    # forward pass (not last_position_logits) and torch's own parameter norm.
    config = EfficiencyConfig.quick()
    everything = MODULAR_ADDITION.build(config.p, 1 - 1 / config.p**2, config.seed)
    noisy = random_labels(everything, int(table["train_size"].iloc[0]), config.seed)
    memoriser, _ = train_grokking(config, noisy, None)
    with torch.no_grad():
        logits = memoriser(noisy.train_inputs)[:, -1]
        centred = logits - logits.mean(-1, keepdim=True)
        correct = float(centred[torch.arange(len(noisy.train_labels)), noisy.train_labels].mean())
        weights = list(memoriser.original_model.parameters())
        norm = float(torch.cat([w.flatten() for w in weights]).norm())
    assert table["mem_correct_logit"].iloc[0] == pytest.approx(correct, rel=1e-4)
    assert table["mem_param_norm"].iloc[0] == pytest.approx(norm, rel=1e-5)
    assert table["mem_efficiency"].iloc[0] == pytest.approx(correct / norm, rel=1e-4)


def test_critical_size_interpolates_the_crossing():
    assert critical_size([100, 1000], [2.0, 0.0], 1.0) == pytest.approx(316.227, rel=1e-4)
    assert critical_size([100, 1000, 10000], [3.0, 2.0, 1.5], 1.0) is None
    assert critical_size([100, 1000], [0.0, 2.0], 1.0) == pytest.approx(316.227, rel=1e-4)


def test_random_labels_keep_inputs_and_draw_uniform_labels():
    data = MODULAR_ADDITION.build(p=13, train_fraction=0.99)
    noisy = random_labels(data, 100, seed=0)
    assert noisy.n_train == 100 and noisy.meta["labels"] == "random"
    true = (noisy.train_inputs[:, 0] + noisy.train_inputs[:, 1]) % 13
    assert (noisy.train_labels == true).float().mean() < 0.3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["experiment", "grokking", "--set", "nope=1"], "expected KEY=JSON"),
        (["experiment", "grokking", "--set", "p=x"], "not JSON"),
        (["experiment", "curriculum", "--steps", "5"], "does not apply"),
    ],
)
def test_experiment_cli_usage_errors(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_grokking_resumes_its_checkpoint_and_refuses_other_data(tmp_path, capsys):
    out = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--out", str(out)]) == 0
    first = pd.read_parquet(out / "metrics.parquet")
    argv = ["experiment", "grokking", "--quick", "--steps", "40", "--out", str(out), "--resume"]
    assert main(argv) == 0
    longer = pd.read_parquet(out / "metrics.parquet")
    assert longer["step"].tolist() == [0, 10, 20, 30, 40]
    pd.testing.assert_frame_equal(longer.iloc[: len(first)], first)
    argv = ["experiment", "grokking", "--quick", "--set", "train_fraction=0.7", "--out", str(out)]
    argv.append("--resume")
    assert main(argv) == 2
    assert "resume with the same data" in capsys.readouterr().err


def test_cluster_eta2_on_known_clusterings():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    tight = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    assert cluster_eta2(tight, labels) == pytest.approx(1.0)
    # Every label has the same mean: the labels explain none of the variance.
    mixed = torch.tensor(
        [[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [3.0, 0.0], [-3.0, 0.0]]
    )
    assert cluster_eta2(mixed, labels) == pytest.approx(0.0)
    # Total sum of squares 20 about the mean 3, 4 of it within the labels (means 1 and 5).
    half = torch.tensor([[0.0], [2.0], [4.0], [6.0]])
    assert cluster_eta2(half, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.8)
