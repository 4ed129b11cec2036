"""Generated CSV tasks and flag values against the CLI: it answers 0, 1 or 2 in one line, never
with a traceback, and never leaves a folder claiming ``done`` for a run that failed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mechcirc.cli import main

pytestmark = pytest.mark.slow

MODEL = ["--model", "pythia-160m", "--revision", "step143000"]
WORDS = st.sampled_from([" Mary", " John", " the", " store", " 1999", "abc", "", " Zoé", "日本"])
PROMPTS = st.lists(WORDS, min_size=0, max_size=6).map("".join)
CELLS = st.one_of(
    st.integers(-5, 60000).map(str),
    st.lists(st.integers(-2, 60000), max_size=3).map(json.dumps),
    st.floats(allow_nan=True).map(str),
    WORDS,
    st.text(max_size=6),
)
COLUMNS = st.sampled_from(
    [
        ["clean", "corrupted", "correct_idx", "incorrect_idx"],
        ["clean", "corrupted", "correct", "incorrect"],
        ["clean", "corrupted", "correct_idx", "incorrect_idx", "positions"],
        ["clean", "corrupted", "correct_idx"],
    ]
)
GOOD = st.sampled_from(["1", "2", "3", "4"])
BAD = st.sampled_from(["0", "-3", "nan", "inf", "1e9", "abc", "0.5", ""])
NUMBERS = st.one_of(GOOD, GOOD, GOOD, BAD)  # mostly valid, so many runs get to do work
TARGETS = st.one_of(st.sampled_from(["0.5", "0.8", "1"]), st.sampled_from(["1.5", "0", "nan"]))
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@st.composite
def csv_files(draw) -> tuple[list[str], list[list[str]], str]:
    """A CSV task's header, rows and encoding (written by :func:`_write`)."""
    columns = draw(COLUMNS)
    rows = draw(
        st.lists(
            st.lists(
                st.one_of(PROMPTS, CELLS), min_size=len(columns) - 1, max_size=len(columns) + 1
            ),
            min_size=0,
            max_size=4,
        )
    )
    return columns, rows, draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))


def _write(spec, folder: Path) -> str:
    columns, rows, encoding = spec
    path = folder / "task.csv"
    with path.open("w", newline="", encoding=encoding, errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return str(path)


def _check(code: int, capsys, out: Path | None = None) -> None:
    err = capsys.readouterr().err
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
    if code != 0:
        lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err
    if out is not None and (out / "manifest.json").is_file():
        status = json.loads((out / "manifest.json").read_text())["status"]
        assert status == ("done" if code == 0 else "failed"), (code, status)


@SETTINGS
@given(task=csv_files(), n=NUMBERS)
def test_tasks_show_on_generated_csv(task, n, capsys, tmp_path_factory):
    path = _write(task, tmp_path_factory.mktemp("csv"))
    _check(main(["tasks", "show", path, "--tokenizer", "pythia", "--n", n]), capsys)


@SETTINGS
@given(task=st.one_of(csv_files(), st.sampled_from(["ioi", "greater-than", "nope"])),
       n=NUMBERS, steps=NUMBERS, target=TARGETS, batch=NUMBERS)  # fmt: skip
def test_eap_on_generated_inputs(
    offline_env, task, n, steps, target, batch, capsys, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("eap")
    task = task if isinstance(task, str) else _write(task, folder)
    out = folder / "run"
    argv = ["eap", *MODEL, "--task", task, "--n", n, "--ig-steps", steps, "--method", "eap"]
    argv += ["--faithfulness-target", target, "--batch-size", batch, "--out", str(out)]
    _check(main(argv), capsys, out)


@SETTINGS
@given(
    seq_len=NUMBERS,
    n_sequences=NUMBERS,
    batch=NUMBERS,
    scores=st.sampled_from(["induction", "copy,previous_token", "bogus", "all", ""]),
)
def test_heads_on_generated_flags(
    offline_env, seq_len, n_sequences, batch, scores, capsys, tmp_path_factory
):
    out = tmp_path_factory.mktemp("heads") / "run"
    argv = ["heads", *MODEL, "--scores", scores, "--seq-len", seq_len, "--n-sequences"]
    argv += [n_sequences, "--batch-size", batch, "--out", str(out)]
    _check(main(argv), capsys, out)
