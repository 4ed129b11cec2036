"""Checks before any work (exit 2 naming the offender), --config with overrides, refused folders,
a custom registered analysis."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from mechcirc.cli import build_parser, main
from mechcirc.cli.sweep import plan_and_options, settings_from_args
from mechcirc.errors import UsageError
from mechcirc.sweep import SweepAnalysis, run_sweep
from mechcirc.sweep import registry as registry_module

from .conftest import SMALL_FLAGS, small_plan


def run_cli(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--revisions", "step0,step1234"], "step1234"),
        (["--revisions", "step0", "--models", "pythia-70m,pythia-7b"], "pythia-7b"),
        (["--revisions", "step0", "--tasks", "ioi,ioii"], "ioii"),
        (["--revisions", "step0", "--analyses", "eap,circuits"], "circuits"),
        (["--revisions", "step0", "--head-scores", "induction,inductoin"], "inductoin"),
        (["--revisions", "step0", "--method", "magic"], "magic"),
        (["--revisions", "step0", "--head-scores", "name_mover", "--tasks", "greater-than"], "ioi"),
    ],
)
def test_bad_input_exits_2_before_any_work(flags, named, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--models", "pythia-70m", *flags, "--out", str(out)]
    code, err = run_cli(argv, capsys)
    assert code == 2 and named in err, err
    assert not out.exists()


def test_a_revision_outside_the_pythia_schedule_names_it_and_the_model(tmp_path, capsys):
    argv = ["sweep", "--models", "pythia-70m,pythia-31m", "--revisions", "sparse,step150"]
    code, err = run_cli([*argv, "--out", str(tmp_path / "s")], capsys)
    assert code == 2
    assert "pythia-70m has no checkpoint step150" in err and "nearest: step128" in err


def test_config_file_settings_are_overridden_by_flags(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        'models = ["pythia-70m", "pythia-31m"]\nrevisions = "log"\ntasks = "ioi,greater-than"\n'
        'n = 12\nig-steps = 3\nfaithfulness-target = 0.7\nexecutor = "ray"\nout = "sweeps/x"\n'
    )
    args = build_parser().parse_args(["sweep", "--config", str(config), "--n", "8"])
    settings = settings_from_args(args)
    plan, options = plan_and_options(settings)
    assert plan.n == 8 and plan.ig_steps == 3 and plan.target == 0.7
    assert plan.tasks == ("ioi", "greater-than") and len(plan.revisions["pythia-31m"]) == 11
    assert options.executor == "ray" and settings["out"] == "sweeps/x"


def test_unknown_config_keys_are_refused(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text('models = "pythia-70m"\nrevisons = "log"\n')
    code, err = run_cli(["sweep", "--config", str(config)], capsys)
    assert code == 2 and "unknown setting 'revisons'" in err


def test_a_folder_that_is_not_a_sweep_or_holds_another_plan_is_refused(sweep_hub, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a sweep"):
        run_sweep(small_plan(), other, progress=False)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    out = tmp_path / "sweep"
    run_sweep(small_plan(analyses=("behaviour",)), out, progress=False)
    state = (out / "sweep.json").read_text()
    with pytest.raises(UsageError, match="another plan .*n: 6 -> 7"):
        run_sweep(small_plan(analyses=("behaviour",), n=7), out, progress=False)
    assert (out / "sweep.json").read_text() == state


class Norms(SweepAnalysis):
    """A sweep analysis defined outside mechcirc: the embedding's norm at each checkpoint."""

    name, tables = "norms", ("norms",)

    def run(self, ctx) -> None:
        with ctx.sub_run("norms", command="norms", config={}) as run:
            run.save_json("norms.json", {"w_e": float(ctx.model.W_E.detach().norm())})

    def rows(self, record) -> dict[str, list[dict[str, Any]]]:
        value = record.read_json("norms/norms.json")["w_e"]
        return {"norms": [{**record.keys(), "w_e": value}]}


@pytest.mark.slow
def test_a_registered_analysis_runs_in_every_unit_and_gets_its_table(
    sweep_hub, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    registry_module.register_analysis(Norms())
    out = tmp_path / "sweep"
    argv = ["sweep", "--models", "pythia-70m,pythia-31m", "--revisions", "step0,step143000"]
    assert main([*argv, "--analyses", "norms,behaviour", *SMALL_FLAGS, "--out", str(out)]) == 0
    norms = pd.read_parquet(out / "norms.parquet")
    assert norms[["model", "revision"]].values.tolist() == [
        ["pythia-70m", "step0"],
        ["pythia-70m", "step143000"],
        ["pythia-31m", "step0"],
        ["pythia-31m", "step143000"],
    ]
    assert norms["w_e"].nunique() == 4  # every revision has its own weights
    manifest = json.loads((out / "units/pythia-31m/step0/manifest.json").read_text())
    assert "norms/manifest.json" in manifest["outputs"] and manifest["status"] == "done"
    assert "4 done" in capsys.readouterr().out
