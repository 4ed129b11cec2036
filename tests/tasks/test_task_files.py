"""CSV (EAP-IG format), JSON-lines records and datasets export: round trips and errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.io import (
    export_csv,
    pairs_from_records,
    pairs_to_dataset,
    pairs_to_records,
    read_jsonl,
    write_jsonl,
)

LANGUAGE_TASKS = ["ioi", "gendered-pronoun", "greater-than", "subject-verb-agreement"]


def _same(a, b) -> None:
    assert torch.equal(a.attention_mask, b.attention_mask)
    mask = a.attention_mask.bool()
    assert torch.equal(a.clean[mask], b.clean[mask])
    assert torch.equal(a.corrupted[mask], b.corrupted[mask])
    assert torch.equal(a.correct, b.correct) and torch.equal(a.incorrect, b.incorrect)
    assert a.metric == b.metric
    assert a.positions.keys() == b.positions.keys()
    assert all(torch.equal(a.positions[k], b.positions[k]) for k in a.positions)


def _write(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("name", LANGUAGE_TASKS)
def test_csv_round_trip_gives_identical_ids(real_tok, name, tmp_path):
    pairs = tasks.get(name).generate(real_tok, n=60, seed=2)
    path = export_csv(pairs, real_tok, tmp_path / f"{name}.csv")
    loaded = tasks.load_pairs(str(path), real_tok, n=60)
    _same(pairs, loaded)
    assert loaded.task == str(path) and tasks.get(path).kind == "prompt-pairs"
    with path.open() as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["clean", "corrupted", "correct_idx", "incorrect_idx"]


def test_csv_with_answer_strings(pythia_tok, tmp_path):
    path = _write(
        tmp_path / "strings.csv",
        ["clean", "corrupted", "correct", "incorrect"],
        [
            ["When Mary and John left, John thanked", "When Mary and John left, Paul thanked",
             " Mary", " John"],
            ["The keys near the cabinet", "The key near the cabinet", '[" are", " were"]',
             '[" is", " was"]'],
        ],
    )  # fmt: skip
    pairs = tasks.load_pairs(path, pythia_tok, n=2)
    ids = {w: pythia_tok.encode(w)[0] for w in (" Mary", " John", " are", " were", " is", " was")}
    assert pairs.correct.tolist() == [[ids[" Mary"], -1], [ids[" are"], ids[" were"]]]
    assert pairs.incorrect.tolist() == [[ids[" John"], -1], [ids[" is"], ids[" was"]]]
    assert pairs.metric == "logit_diff" and pairs.clean[0, 0] == pythia_tok.bos_token_id
    assert pairs.positions["end"].tolist() == (pairs.attention_mask.sum(-1) - 1).tolist()


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (["clean", "corrupted", "correct_idx"], ["a b", "a c", "5"], "lacks column.*incorrect"),
        (["clean", "correct", "incorrect"], ["a b", " x", " y"], "lacks column.*corrupted"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx"], ["a b", "a c", "5", "999999"],
         r"token id\(s\) \[999999\] outside the tokenizer's vocabulary"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx"], ["a b", "a c", "x", "1"],
         "not a token id"),
        (["clean", "corrupted", "correct", "incorrect"], ["Then, Mary", "Then, John",
         " Marianneopolis", " John"], "answers must be single tokens"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx"],
         ["When Mary left", "When Marianneopolis left", "5", "6"], "must have equal lengths"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx", "metric"],
         ["a b", "a c", "5", "6", "accuracy"], "metric column"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx"], ["a b", "a c", "[3.9]", "6"],
         "not a token id"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx"], ["a b", "a c", "[5.0]", "6"],
         "not a token id"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx", "positions"],
         ["a b", "a c", "5", "6", '{"io": 7}'], r"positions \{'io': 7\} outside the prompt's 3"),
        (["clean", "corrupted", "correct_idx", "incorrect_idx", "positions"],
         ["a b", "a c", "5", "6", '{"io": 1.5}'], "not a JSON object of token indices"),
    ],
)  # fmt: skip
def test_csv_errors_name_the_problem(pythia_tok, tmp_path, header, row, message):
    path = _write(tmp_path / "bad.csv", header, [row])
    with pytest.raises(UsageError, match=message):
        tasks.load_pairs(path, pythia_tok, n=1)


def test_csv_encodings_and_ragged_rows(pythia_tok, tmp_path):
    text = "clean,corrupted,correct_idx,incorrect_idx\nWhen Mary left,When John left,5,6\n"
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(tasks.load_pairs(bom, pythia_tok, n=1)) == 1  # a UTF-8 BOM, as Excel writes it
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.replace("Mary", "Zoé").encode("cp1252") * 20)
    with pytest.raises(UsageError, match=r"is not UTF-8 \(byte b'\\xe9'.*save it as UTF-8"):
        tasks.load_pairs(latin, pythia_tok, n=1)
    for rows, cells in (("a b,a c,5\n", 3), ("a b,a c,5,6,7\n", 5)):
        ragged = tmp_path / f"ragged{cells}.csv"
        ragged.write_text("clean,corrupted,correct_idx,incorrect_idx\n" + rows)
        with pytest.raises(
            UsageError, match=f"row 1 \\(line 2\\): {cells} cells but the header has 4"
        ):
            tasks.load_pairs(ragged, pythia_tok, n=1)


def test_csv_file_errors(pythia_tok, tmp_path):
    with pytest.raises(UsageError, match="CSV file not found"):
        tasks.get(tmp_path / "missing.csv")
    path = _write(tmp_path / "one.csv", ["clean", "corrupted", "correct_idx", "incorrect_idx"],
                  [["a b", "a c", "5", "6"]])  # fmt: skip
    with pytest.raises(UsageError, match="has 1 rows, fewer than n=3"):
        tasks.load_pairs(path, pythia_tok, n=3)
    with pytest.raises(UsageError, match="takes no options"):
        tasks.load_pairs(path, pythia_tok, n=1, corruption="abc")


def test_records_and_jsonl_round_trip(gpt2_tok, tmp_path):
    pairs = tasks.get("greater-than").generate(gpt2_tok, n=30, seed=0)
    records = pairs_to_records(pairs)
    assert set(records[0]) == {
        "task", "metric", "clean_ids", "corrupted_ids", "correct_idx", "incorrect_idx",
        "positions",
    }  # fmt: skip
    assert len(records[0]["clean_ids"]) == int(pairs.attention_mask[0].sum())
    json.dumps(records)  # JSON-ready
    _same(pairs, pairs_from_records(records))
    _same(pairs, read_jsonl(write_jsonl(pairs, tmp_path / "examples.jsonl")))
    with pytest.raises(UsageError, match="lacks"):
        pairs_from_records([{"clean_ids": [1]}])


def test_dataset_export(pythia_tok):
    pairs = tasks.get("ioi").generate(pythia_tok, n=10, seed=0)
    dataset = pairs_to_dataset(pairs, pythia_tok)
    assert len(dataset) == 10
    row = dataset[3]
    assert pythia_tok.encode(row["clean"]) == row["clean_ids"][1:]
    assert row["correct_idx"] == [int(pairs.correct[3, 0])]
    assert row["positions"]["io"] == int(pairs.positions["io"][3])
