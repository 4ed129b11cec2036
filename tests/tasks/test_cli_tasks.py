"""`mechcirc tasks list|show|export`: output, files written, exit codes."""

from __future__ import annotations

import json

import pytest
import torch

from mechcirc import tasks
from mechcirc.cli import main
from mechcirc.cli.tasks import load_tokenizer
from mechcirc.tasks.io import read_jsonl


def test_tasks_list_shows_every_registered_task(capsys):
    assert main(["tasks", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(tasks.names())
    for name, line in zip(tasks.names(), lines, strict=True):
        task = tasks.get(name)
        assert line.split()[:2] == [name, task.kind] and task.description in line
    assert {"ioi", "gendered-pronoun", "greater-than", "subject-verb-agreement"} <= set(
        tasks.names()
    )


def test_tasks_show_with_tokenizer(capsys):
    code = main(["tasks", "show", "ioi", "--tokenizer", "gpt2", "--n", "2", "--order", "abba"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("ioi: 2 pairs, metric logit_diff")
    assert out.count("clean:") == 2 and out.count("corrupted:") == 2
    pairs = tasks.get("ioi").generate(load_tokenizer("gpt2"), n=2, order="abba")
    assert f"positions: end={int(pairs.positions['end'][0])}" in out


def test_tasks_show_with_model(offline_env, capsys):
    code = main(["tasks", "show", "gendered-pronoun", "--model", "pythia-160m", "--revision",
                 "step143000", "--device", "cpu", "--n", "1"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert '"<|endoftext|>So' in out and "<|endoftext|><|endoftext|>" not in out
    assert "' he'" in out and "' she'" in out  # the correct and the incorrect answer


def test_tasks_export_csv_round_trip(tmp_path, capsys):
    out, run_dir = tmp_path / "sva.csv", tmp_path / "run"
    argv = ["tasks", "export", "subject-verb-agreement", "--tokenizer", "pythia", "--n", "40",
            "--seed", "3", "--structure", "relative", "--out", str(out),
            "--run-dir", str(run_dir)]  # fmt: skip
    assert main(argv) == 0
    tok = load_tokenizer("pythia")
    expected = tasks.get("subject-verb-agreement").generate(tok, 40, seed=3, structure="relative")
    loaded = tasks.load_pairs(out, tok, n=40)
    assert torch.equal(loaded.clean, expected.clean)
    assert torch.equal(loaded.corrupted, expected.corrupted)
    assert torch.equal(loaded.correct, expected.correct)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["seed"] == 3
    assert manifest["config"]["structure"] == "relative"
    assert manifest["metrics"]["n_examples"] == 40
    assert torch.equal(read_jsonl(run_dir / "examples.jsonl").clean, expected.clean)


def test_tasks_export_jsonl(tmp_path):
    out = tmp_path / "gt.jsonl"
    argv = ["tasks", "export", "greater-than", "--tokenizer", "gpt2", "--n", "5", "--out",
            str(out), "--run-dir", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    assert read_jsonl(out).metric == "prob_diff"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tasks", "show", "iio", "--tokenizer", "gpt2"], "unknown task 'iio'"),
        (["tasks", "show", "ioi"], "exactly one of --model M or --tokenizer PATH"),
        (["tasks", "show", "ioi", "--tokenizer", "nope.json"], "is not a bundled name"),
        (["tasks", "show", "greater-than", "--tokenizer", "gpt2", "--order", "abba"],
         "has no option --order"),
        (["tasks", "show", "modular-addition", "--tokenizer", "gpt2"], "not prompt pairs"),
        (["tasks", "show", "ioi", "--tokenizer", "gpt2", "--corruption", "xyz"],
         "corruption must be one of"),
        (["tasks", "export", "ioi", "--tokenizer", "gpt2", "--n", "2", "--out", "x.txt"],
         "must end in .csv or .jsonl"),
        (["tasks", "export", "ioi", "--tokenizer", "gpt2", "--out", "x.csv"], "--n"),
    ],
)  # fmt: skip
def test_tasks_cli_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_tokenizer_files_are_one_line_usage_errors(tmp_path, capsys):
    garbage = tmp_path / "tokenizer.json"
    garbage.write_text("not json")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{}")
    for spec in (garbage, folder):
        assert main(["tasks", "show", "ioi", "--tokenizer", str(spec)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: --tokenizer {spec} is not a readable")


def test_examples_file_that_is_not_json_names_the_line(tmp_path):
    from mechcirc.errors import UsageError

    path = tmp_path / "examples.jsonl"
    path.write_text('{"clean_ids": [1]}\n{broken\n')
    with pytest.raises(UsageError, match="line 2 is not JSON"):
        read_jsonl(path)
