"""The CLI skeleton and `mechcirc models ...`, including exit codes and one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mechcirc
from mechcirc.cli import main

MECHCIRC = str(Path(sys.executable).with_name("mechcirc"))


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mechcirc {mechcirc.__version__}"


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "models" in capsys.readouterr().out


def test_no_arguments_prints_help(capsys):
    assert main([]) == 0
    assert "usage: mechcirc" in capsys.readouterr().out


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "pythia-160m-deduped  EleutherAI/pythia-160m-deduped" in out
    assert "openai-community/gpt2" in out


def test_models_info_offline(offline_env, capsys):
    assert (
        main(["models", "info", "pythia-160m", "--revision", "step143000", "--device", "cpu"]) == 0
    )
    fields = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line)
    assert fields["model_id"] == "EleutherAI/pythia-160m"
    assert fields["revision"] == "step143000"
    assert (fields["n_layers"], fields["n_heads"], fields["d_model"]) == ("4", "4", "64")
    assert fields["parallel_attn_mlp"] == "True"
    assert int(fields["parameters"]) > 0


def test_invalid_step_exits_1_with_one_line(offline_env, capsys):
    assert main(["models", "info", "pythia-160m", "--revision", "step1234"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "0, 1, 2, 4, 8, ..., 512, then every 1000 from 1000 to 143000" in err


@pytest.mark.parametrize(
    "argv",
    [["models"], ["models", "info"], ["nonsense"], ["models", "info", "x", "--dtype", "int3"]],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_debug_shows_the_traceback_and_keeps_the_exit_code(offline_env, capsys):
    assert main(["--debug", "models", "info", "pythia-160m", "--revision", "step1234"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ModelLoadError" in err
    assert err.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.slow
def test_console_script_acceptance_path(offline_env):
    """The acceptance commands, exactly as a user types them (HF_HOME + HF_HUB_OFFLINE=1)."""
    env = {**os.environ, "HF_HOME": offline_env, "HF_HUB_OFFLINE": "1"}
    ok = subprocess.run(
        [MECHCIRC, "models", "info", "pythia-160m", "--revision", "step143000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "d_model            64" in ok.stdout
    early = subprocess.run(
        [MECHCIRC, "models", "info", "pythia-160m", "--revision", "step1000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert early.returncode == 0 and "step1000" in early.stdout
    assert early.stdout.split("commit")[1] != ok.stdout.split("commit")[1]
    bad = subprocess.run(
        [MECHCIRC, "models", "info", "pythia-160m", "--revision", "step1234"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 1 and "every 1000" in bad.stderr and "Traceback" not in bad.stderr


def test_build_offline(tmp_path, capsys):
    from mechcirc.models.micro_spec import load_spec

    first = load_spec().revisions()[0]
    args = ["models", "build-offline", "--home", str(tmp_path), "--revisions", "step0"]
    assert main([*args, "--micro-revisions", first]) == 0
    ref = tmp_path / "hub" / "models--EleutherAI--pythia-160m" / "refs" / "step0"
    assert ref.is_file() and len(ref.read_text()) == 40
    micro = tmp_path / "hub" / "models--mechcirc--micro-pythia"
    assert sorted(p.name for p in (micro / "refs").iterdir()) == sorted(["main", first])
    out = capsys.readouterr().out
    assert "HF_HUB_OFFLINE=1" in out and f"micro-pythia (trained) at {first}" in out


def test_build_offline_without_the_micro_model(tmp_path, capsys):
    args = ["models", "build-offline", "--home", str(tmp_path), "--revisions", "step0"]
    assert main([*args, "--micro-revisions", "none"]) == 0
    assert not (tmp_path / "hub" / "models--mechcirc--micro-pythia").exists()
    assert "micro-pythia" not in capsys.readouterr().out


def test_micro_pythia_is_listed_and_loads_offline(micro_hub, capsys):
    from mechcirc.models.micro_spec import load_spec

    last = load_spec().revisions()[-1]
    assert main(["models", "list"]) == 0
    assert "micro-pythia" in capsys.readouterr().out.splitlines()[0]
    assert main(["models", "info", "micro-pythia", "--revision", last, "--device", "cpu"]) == 0
    fields = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if line)
    assert fields["model_id"] == "mechcirc/micro-pythia" and fields["revision"] == last
    assert main(["models", "info", "micro-pythia", "--revision", "step1"]) == 1
    assert "no checkpoint at step 1:" in capsys.readouterr().err


def test_help_imports_no_heavy_library():
    code = (
        "import sys\nfrom mechcirc.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'transformer_lens', 'pandas',"
        " 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_models_info_takes_the_model_positionally(capsys):
    assert main(["models", "info", "pythia-160m", "--model", "gpt2"]) == 2
    assert "unrecognized arguments: --model" in capsys.readouterr().err


def test_build_offline_into_a_home_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["models", "build-offline", "--home", str(blocker / "hub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Not a directory" in err[0]
