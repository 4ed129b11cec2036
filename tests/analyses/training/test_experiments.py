"""Training experiments: pipelines in memory (no disk) and through the CLI, resume refusals
that leave the folder untouched, failures recorded, reruns, and known-answer helpers."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
import torch

from mechcirc.analyses.training import (
    EfficiencyConfig,
    GrokkingConfig,
    SemiGrokkingConfig,
    UngrokkingConfig,
    experiment_config,
    run_experiment,
    transition,
)
from mechcirc.analyses.training.efficiency import curves_crossing, random_labels
from mechcirc.analyses.training.grokking import train_grokking
from mechcirc.analyses.training.ungrokking import critical_size, logit_efficiency, norm_drift
from mechcirc.cli import main
from mechcirc.errors import UsageError
from mechcirc.tasks import MODULAR_ADDITION


def manifest(path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def listed_everything(path) -> bool:
    """Every file in the run folder (but the manifest) is listed in its outputs."""
    files = {
        str(p.relative_to(path))
        for p in path.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    return files == set(manifest(path)["outputs"])


def test_pipelines_touch_no_disk_without_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for config in (GrokkingConfig.preset("quick"), UngrokkingConfig.preset("quick")):
        assert run_experiment(config).metrics()["p"] == 11
    assert list(tmp_path.iterdir()) == []


def test_grokking_cli_then_ungrokking_from_its_run_folder(tmp_path):
    grok = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--out", str(grok)]) == 0
    summary = json.loads((grok / "summary.json").read_text())
    assert summary["n_train"] + summary["n_test"] == 11 * 11
    assert manifest(grok)["status"] == "done" and listed_everything(grok)
    proxies = pd.read_parquet(grok / "proxies.parquet")
    metrics = pd.read_parquet(grok / "metrics.parquet")
    assert proxies["step"].tolist() == metrics["step"].tolist()
    # C_gen + C_mem is the mean centred correct logit on the training pairs, by definition.
    total = (proxies["c_gen"] + proxies["c_mem"]).to_numpy()
    assert total == pytest.approx(metrics["train_correct_logit"].to_numpy(), abs=1e-5)
    ungrok = tmp_path / "ungrok"
    argv = ["experiment", "ungrokking", "--quick", "--out", str(ungrok)]
    assert main([*argv, "--set", f'from_checkpoint="{grok}"']) == 0
    table = pd.read_parquet(ungrok / "ungrokking.parquet")
    assert table["train_size"].tolist() == [round(0.2 * 121)]
    # Continued training starts from the loaded weights: its first test accuracy is theirs
    # (the loaded model's own data: 50% of the pairs, not the preset's 60%).
    assert table["test_acc_start"].iloc[0] == pytest.approx(metrics["test_acc"].iloc[-1])
    assert listed_everything(ungrok)


def test_grokking_resumes_and_a_refused_resume_changes_nothing(tmp_path, capsys):
    out = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--out", str(out)]) == 0
    first = pd.read_parquet(out / "metrics.parquet")
    argv = ["experiment", "grokking", "--quick", "--steps", "40", "--out", str(out), "--resume"]
    assert main(argv) == 0
    longer = pd.read_parquet(out / "metrics.parquet")
    assert longer["step"].tolist() == [0, 10, 20, 30, 40]
    pd.testing.assert_frame_equal(longer.iloc[: len(first)], first)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = [*argv[:-1], "--set", "train_fraction=0.7", "--resume"]
    assert main(refused) == 2
    assert "resume with the same data" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["experiment", "ungrokking", "--quick", "--out", str(out), "--resume"]) == 2
    assert "--resume applies to grokking" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_rerun_of_a_grokking_experiment_reproduces_its_metrics(tmp_path):
    out = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--no-checkpoints", "--out", str(out)]) == 0
    again = tmp_path / "again"
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "metrics.parquet"), pd.read_parquet(again / "metrics.parquet")
    )
    assert manifest(again)["config"] == manifest(out)["config"]


def test_a_failure_mid_run_is_recorded(tmp_path, monkeypatch, capsys):
    from mechcirc import training as trainer

    def broken(self, *args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(trainer.Trainer, "fit", broken)
    out = tmp_path / "grok"
    assert main(["experiment", "grokking", "--quick", "--out", str(out)]) == 1
    recorded = manifest(out)
    assert recorded["status"] == "failed"
    assert recorded["error"] == {"type": "RuntimeError", "message": "injected failure"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["experiment", "grokking", "--set", "nope=1"], "expected KEY=JSON"),
        (["experiment", "grokking", "--set", "p=x"], "not JSON"),
        (["experiment", "grokking", "--set", 'p="abc"'], "p must be an integer"),
        (["experiment", "grokking", "--set", "p=12"], "prime"),
        (["experiment", "grokking", "--set", "lr=0"], "lr must be in (0, inf]"),
        (["experiment", "curriculum", "--steps", "5"], "steps does not apply"),
        (["experiment", "grokking", "--preset", "nope"], "unknown GrokkingConfig preset"),
    ],
)
def test_experiment_cli_usage_errors(tmp_path, capsys, argv, message):
    out = tmp_path / "x"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_presets_and_overrides_build_typed_configs():
    config = experiment_config("grokking", preset="p47", overrides={"seed": 2})
    assert (config.p, config.train_fraction, config.steps, config.seed) == (47, 0.5, 4000, 2)
    assert GrokkingConfig().p == 113 and GrokkingConfig().train_fraction == 0.3  # the paper
    assert GrokkingConfig.from_dict(config.to_dict()) == config
    semi = experiment_config("semi-grokking", assignments=["train_fractions=[0.1]"])
    assert semi.train_fractions == (0.1,) and isinstance(semi, SemiGrokkingConfig)
    with pytest.raises(UsageError):
        experiment_config("efficiency", overrides={"seeds": (0,)})


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


def test_semi_grokking_and_efficiency_in_memory():
    semi = run_experiment(SemiGrokkingConfig.preset("quick"))
    assert semi.table["train_size"].tolist() == [round(0.4 * 121)]
    config = EfficiencyConfig.preset("quick")
    result = run_experiment(config)
    table = result.table
    assert sorted(table["solution"].unique()) == ["generalising", "memorising"]
    sizes = [round(0.2 * 121), round(0.5 * 121)]
    assert table[table["solution"] == "memorising"]["train_size"].tolist() == sizes
    # Independent check: retrain the first memoriser and measure it here, with the bridge's full
    # forward pass (not last_position_logits) and torch's own parameter norm.
    everything = MODULAR_ADDITION.build(config.p, 1 - 1 / config.p**2, config.seed)
    noisy = random_labels(everything, sizes[0], config.seed)
    memoriser, _ = train_grokking(config, noisy, steps=config.memorising_steps)
    with torch.no_grad():
        logits = memoriser(noisy.train_inputs)[:, -1]
        centred = logits - logits.mean(-1, keepdim=True)
        correct = float(centred[torch.arange(len(noisy.train_labels)), noisy.train_labels].mean())
        norm = float(torch.cat([w.flatten() for w in memoriser.original_model.parameters()]).norm())
    first = table[table["solution"] == "memorising"].iloc[0]
    assert first["correct_logit"] == pytest.approx(correct, rel=1e-4)
    assert first["param_norm"] == pytest.approx(norm, rel=1e-5)
    assert first["efficiency"] == pytest.approx(correct / norm, rel=1e-4)
    assert {"d_crit_param_norm_curves", "d_crit_efficiency_curves"} <= set(result.summary)


class LookupModel(torch.nn.Module):
    """A constructed classifier: logits = W[a * P + b], W = M * onehot(label)."""

    def __init__(self, labels: torch.Tensor, p: int, m: float) -> None:
        super().__init__()
        self.p = p
        self.table = torch.nn.Parameter(m * torch.nn.functional.one_hot(labels, p).float())

    def logits(self, model, inputs):
        return self.table[inputs[:, 0] * self.p + inputs[:, 1]]


def test_logit_efficiency_of_a_constructed_lookup_model():
    """Known answer: each correct logit is M, the others 0, so the centred correct logit is
    M (1 - 1/P); the norm is M sqrt(P^2) over the P^2 one-hot rows."""
    p, m = 7, 3.0
    data = MODULAR_ADDITION.build(p, 0.5)
    labels = (torch.arange(p * p) // p + torch.arange(p * p) % p) % p
    model = LookupModel(labels, p, m)
    found = logit_efficiency(model, data.train_inputs, data.train_labels, logits_fn=model.logits)
    assert found["correct_logit"] == pytest.approx(m * (1 - 1 / p))
    assert found["param_norm"] == pytest.approx(m * p)
    assert found["efficiency"] == pytest.approx((1 - 1 / p) / p)
    assert found["train_acc"] == 1.0


def test_norm_drift_and_critical_size_on_known_tables():
    history = pd.DataFrame({"step": [0, 50, 80, 90, 100], "param_norm": [1.0, 5.0, 4.0, 4.2, 5.0]})
    assert norm_drift(history) == pytest.approx(0.2)  # from 4.0 at step 80 to 5.0 at 100
    assert critical_size([100, 1000], [2.0, 0.0], 1.0) == pytest.approx(316.227, rel=1e-4)
    assert critical_size([100, 1000, 10000], [3.0, 2.0, 1.5], 1.0) is None
    assert critical_size([100, 1000], [0.0, 2.0], 1.0) == pytest.approx(316.227, rel=1e-4)


def test_curves_crossing_on_hand_tables():
    def table(memorising, generalising, sizes=(100, 1000, 10000)):
        return pd.DataFrame(
            {
                "train_size": [*sizes, *sizes],
                "solution": ["memorising"] * len(sizes) + ["generalising"] * len(sizes),
                "param_norm": [*memorising, *generalising],
            }
        )

    # difference -2, -1, +1: crosses half way from 1000 to 10000 in log D
    crossing = curves_crossing(table([28, 29, 31], [30, 30, 30]), "param_norm")
    assert crossing == pytest.approx(10**3.5)
    assert curves_crossing(table([20, 25, 29], [30, 30, 30]), "param_norm") is None
    # sizes only one solution has are left out
    partial = table([28, 29, 31], [30, 30, 30]).drop(index=5)  # generalising at 10000
    assert curves_crossing(partial, "param_norm") is None
    with pytest.raises(UsageError, match="missing \\['efficiency'\\]"):
        curves_crossing(table([28, 29, 31], [30, 30, 30]), "efficiency")
    only_memorising = table([28, 29, 31], [30, 30, 30]).iloc[:3]
    with pytest.raises(UsageError, match="both solutions.*\\['memorising'\\]"):
        curves_crossing(only_memorising, "param_norm")


def test_random_labels_keep_inputs_and_draw_uniform_labels():
    data = MODULAR_ADDITION.build(p=13, train_fraction=0.99)
    noisy = random_labels(data, 100, seed=0)
    assert noisy.n_train == 100 and noisy.meta["labels"] == "random"
    true = (noisy.train_inputs[:, 0] + noisy.train_inputs[:, 1]) % 13
    assert (noisy.train_labels == true).float().mean() < 0.3


@pytest.mark.slow
def test_experiment_cli_quick_runs_list_every_file(tmp_path):
    for name in ("semi-grokking", "efficiency"):
        out = tmp_path / name
        assert main(["experiment", name, "--quick", "--out", str(out)]) == 0
        assert manifest(out)["status"] == "done" and listed_everything(out)
    assert os.path.isfile(tmp_path / "efficiency" / "memorising_norm.png")
