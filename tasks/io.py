"""``PromptPairs`` on disk: JSON-lines records, EAP-IG CSV and ``datasets.Dataset`` exports.

- ``pairs_to_records`` / ``pairs_from_records``: one dict per example (unpadded token ids,
  answer ids, named positions, task and metric), the lossless form run folders keep as
  ``examples.jsonl`` (``write_jsonl`` / ``read_jsonl``).
- ``export_csv``: the EAP-IG format (``clean,corrupted,correct_idx,incorrect_idx``) with the
  prompts as text, plus ``metric`` and ``positions`` columns EAP-IG ignores. Loading it back
  with the same tokenizer (``mechcirc.tasks.get("file.csv")``) gives identical token ids.
- ``pairs_to_dataset``: a Hugging Face ``datasets.Dataset`` with text and ids.

Example:
    >>> records = pairs_to_records(pairs)                     # doctest: +SKIP
    >>> pairs_from_records(records).clean.equal(pairs.clean)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from mechcirc.errors import MechcircError, UsageError
from mechcirc.tasks.building import Example, assemble
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.tokens import bos_ids, encode, tokenizer_label
from mechcirc.textfiles import read_text

__all__ = [
    "CSV_COLUMNS",
    "csv_rows",
    "export_csv",
    "pairs_from_records",
    "pairs_to_dataset",
    "pairs_to_records",
    "read_jsonl",
    "write_jsonl",
]

CSV_COLUMNS = ("clean", "corrupted", "correct_idx", "incorrect_idx", "metric", "positions")


def _answers(row) -> list[int]:
    return [int(t) for t in row.tolist() if t >= 0]


def pairs_to_records(pairs: PromptPairs) -> list[dict]:
    """One JSON-ready dict per example: ids without padding, answers, positions, task, metric."""
    lengths = pairs.attention_mask.sum(-1).tolist()
    return [
        {
            "task": pairs.task,
            "metric": pairs.metric,
            "clean_ids": pairs.clean[i, :length].tolist(),
            "corrupted_ids": pairs.corrupted[i, :length].tolist(),
            "correct_idx": _answers(pairs.correct[i]),
            "incorrect_idx": _answers(pairs.incorrect[i]),
            "positions": {name: int(pos[i]) for name, pos in pairs.positions.items()},
        }
        for i, length in enumerate(lengths)
    ]


def pairs_from_records(records: Sequence[dict], *, padding_id: int = 0) -> PromptPairs:
    """The ``PromptPairs`` that ``pairs_to_records`` described (padding with ``padding_id``)."""
    if not records:
        raise UsageError("no records: expected at least one example dict")
    required = ("clean_ids", "corrupted_ids", "correct_idx", "incorrect_idx")
    for i, record in enumerate(records):
        missing = [key for key in required if key not in record]
        if missing:
            raise UsageError(f"record {i} lacks {missing}; each record needs {list(required)}")
    kinds = {(r.get("task", "custom"), r.get("metric", "logit_diff")) for r in records}
    if len(kinds) > 1:
        raise UsageError(f"records mix tasks/metrics {sorted(kinds)}; write one file per task")
    task, metric = kinds.pop()
    examples = [
        Example(
            tuple(r["clean_ids"]),
            tuple(r["corrupted_ids"]),
            tuple(r["correct_idx"]),
            tuple(r["incorrect_idx"]),
            dict(r.get("positions", {})),
        )
        for r in records
    ]
    return assemble(examples, metric=metric, task=task, padding_id=padding_id)


def write_jsonl(pairs: PromptPairs, path: str | Path) -> Path:
    """Write ``pairs_to_records(pairs)`` as JSON lines to ``path``."""
    path = Path(path)
    lines = (json.dumps(record) for record in pairs_to_records(pairs))
    path.write_text("\n".join(lines) + "\n")
    return path


def read_jsonl(path: str | Path, *, padding_id: int = 0) -> PromptPairs:
    """The ``PromptPairs`` stored by ``write_jsonl``."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"examples file not found: {path}")
    records = []
    for number, line in enumerate(read_text(path, what="examples file").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise UsageError(f"{path} line {number} is not JSON ({err.msg})") from None
    return pairs_from_records(records, padding_id=padding_id)


def _prompt_text(tokenizer, ids: list[int]) -> str:
    """The text whose BOS + encoding is ``ids``; raises if the tokenizer cannot round-trip."""
    bos = bos_ids(tokenizer)
    body = ids[len(bos) :] if ids[: len(bos)] == bos else ids
    text = tokenizer.decode(body, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if encode(tokenizer, text) != body:
        raise MechcircError(
            f"tokenizer {tokenizer_label(tokenizer)} does not re-encode {text!r} to the same ids, "
            "so a text CSV would change the prompts; keep the examples as JSON lines "
            "(write_jsonl) instead"
        )
    return text


def _answer_cell(ids: list[int]) -> str:
    return str(ids[0]) if len(ids) == 1 else json.dumps(ids)


def csv_rows(pairs: PromptPairs, tokenizer) -> list[dict[str, str]]:
    """EAP-IG CSV rows: prompts as text, answers as a token id (or a JSON list of ids)."""
    return [
        {
            "clean": _prompt_text(tokenizer, record["clean_ids"]),
            "corrupted": _prompt_text(tokenizer, record["corrupted_ids"]),
            "correct_idx": _answer_cell(record["correct_idx"]),
            "incorrect_idx": _answer_cell(record["incorrect_idx"]),
            "metric": record["metric"],
            "positions": json.dumps(record["positions"]),
        }
        for record in pairs_to_records(pairs)
    ]


def export_csv(pairs: PromptPairs, tokenizer, path: str | Path) -> Path:
    """Write ``pairs`` as an EAP-IG-format CSV that ``mechcirc.tasks.get(path)`` loads back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = csv_rows(pairs, tokenizer)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def pairs_to_dataset(pairs: PromptPairs, tokenizer):
    """A ``datasets.Dataset``: text prompts, token ids, answer ids, positions, task, metric."""
    import datasets

    records = pairs_to_records(pairs)
    for record in records:
        record["clean"] = _prompt_text(tokenizer, record["clean_ids"])
        record["corrupted"] = _prompt_text(tokenizer, record["corrupted_ids"])
    return datasets.Dataset.from_list(records)
