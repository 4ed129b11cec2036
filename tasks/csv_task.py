"""An EAP-IG-format CSV file as a prompt-pair task.

Accepted columns: ``clean,corrupted`` (prompt text) and either ``correct_idx,incorrect_idx``
(token ids: one integer, or a JSON list of ids for an answer set) or ``correct,incorrect``
(answer strings such as ``" Mary"``, or a JSON list of strings). Optional: ``metric``
(``logit_diff`` when absent) and ``positions`` (a JSON object of named token positions), which
``mechcirc.tasks.io.export_csv`` writes. Prompts are tokenized with the given tokenizer (BOS
first, as every task does); ``generate`` takes the first ``n`` rows in file order, as EAP-IG
does, so ``seed`` has no effect.

Example:
    >>> task = CsvTask("ioi.csv")                        # doctest: +SKIP
    >>> pairs = task.generate(tokenizer, n=100)          # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from mechcirc.errors import UsageError
from mechcirc.tasks.building import Example, assemble
from mechcirc.tasks.metrics import METRICS
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.tokens import bos_ids, continuation, encode, tokenizer_label
from mechcirc.textfiles import read_text

__all__ = [
    "CsvTask",
    "FORMATS",
    "ID_COLUMNS",
    "TEXT_COLUMNS",
    "parse_ids",
    "parse_words",
    "read_csv_rows",
]

ID_COLUMNS = ("correct_idx", "incorrect_idx")
TEXT_COLUMNS = ("correct", "incorrect")
FORMATS = (
    "clean,corrupted,correct_idx,incorrect_idx (token ids) or "
    "clean,corrupted,correct,incorrect (answer strings)"
)


def read_csv_rows(path: Path) -> tuple[list[dict[str, str]], tuple[str, str]]:
    """The rows of ``path`` and which answer columns it uses; checks the header and that every
    row has as many cells as the header (UTF-8, a byte-order mark allowed)."""
    text = read_text(path, what="CSV file")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    except csv.Error as err:
        raise UsageError(f"CSV {path} is not valid CSV ({err})") from None
    for line, row in enumerate(rows, start=2):
        extra, present = row.get(None) or [], [v for k, v in row.items() if k is not None]
        cells = sum(value is not None for value in present) + len(extra)
        if cells != len(columns):
            raise UsageError(
                f"CSV {path} row {line - 1} (line {line}): {cells} cells but the header has "
                f"{len(columns)} ({', '.join(columns)}); quote cells that contain commas"
            )
    has = set(columns)
    answer_columns = ID_COLUMNS if has >= set(ID_COLUMNS) else TEXT_COLUMNS
    missing = [c for c in ("clean", "corrupted", *answer_columns) if c not in has]
    if missing:
        raise UsageError(
            f"CSV {path} lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'}); expected {FORMATS}"
        )
    if not rows:
        raise UsageError(f"CSV {path} has a header but no rows")
    return rows, answer_columns


def _json_list(cell: str) -> list | None:
    if not cell.strip().startswith("["):
        return None
    try:
        value = json.loads(cell)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def parse_ids(cell: str, vocab_size: int, where: str) -> list[int]:
    """Token ids from an integer cell or a JSON list of integers, each in ``[0, vocab_size)``."""
    values = _json_list(cell)
    try:
        ids = [_integer(v) for v in values] if values is not None else [int(cell)]
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {cell!r} is not a token id or a JSON list of ids") from None
    if not ids:
        raise UsageError(f"{where}: empty answer list; give at least one token id")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise UsageError(
            f"{where}: token id(s) {bad} outside the tokenizer's vocabulary [0, {vocab_size}); "
            "the CSV was probably made with another tokenizer: export it again with this model's "
            "tokenizer, or give the answers as strings (correct,incorrect columns)"
        )
    return ids


def parse_words(cell: str, tokenizer, prompt: str, where: str) -> list[int]:
    """Token ids of answer strings (one string or a JSON list); each must be one token."""
    values = _json_list(cell)
    words = [str(v) for v in values] if values is not None else [cell]
    ids = []
    for word in words:
        tokens = continuation(tokenizer, prompt, word)
        if tokens is None or len(tokens) != 1:
            pieces = encode(tokenizer, word)
            raise UsageError(
                f"{where}: answer {word!r} is {len(pieces)} tokens {pieces} in tokenizer "
                f"{tokenizer_label(tokenizer)}, but answers must be single tokens; pick a "
                "single-token word (mind the leading space, e.g. ' Mary') or give token ids "
                "in correct_idx,incorrect_idx columns"
            )
        ids.append(tokens[0])
    return ids


def _integer(value: object) -> int:
    """A JSON integer; floats (``3.9``, even ``3.0``) and bools are not token ids."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _positions(cell: str, n_tokens: int, where: str) -> dict[str, int]:
    try:
        value = json.loads(cell)
        positions = {str(name): _integer(pos) for name, pos in value.items()}
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        raise UsageError(
            f"{where}: positions {cell!r} is not a JSON object of token indices "
            '(e.g. {"io": 4, "end": 15}); fix or drop the positions column'
        ) from None
    outside = {name: pos for name, pos in positions.items() if not 0 <= pos < n_tokens}
    if outside:
        raise UsageError(
            f"{where}: positions {outside} outside the prompt's {n_tokens} tokens "
            f"(0..{n_tokens - 1}, BOS included)"
        )
    return positions


@dataclass(frozen=True)
class CsvTask:
    """Prompt pairs read from an EAP-IG-format CSV file (see the module docstring)."""

    path: Path
    kind: str = "prompt-pairs"

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def description(self) -> str:
        return f"prompt pairs from the EAP-IG-format CSV {self.path}"

    def generate(self, tokenizer, n: int, seed: int = 0, **options) -> PromptPairs:
        """The first ``n`` rows as ``PromptPairs`` (``seed`` is unused: file order is kept)."""
        if options:
            raise UsageError(f"a CSV task takes no options, got {', '.join(options)}")
        rows, answer_columns = read_csv_rows(self.path)
        if n > len(rows):
            raise UsageError(f"CSV {self.path} has {len(rows)} rows, fewer than n={n}; use --n")
        examples = [
            self._example(row, answer_columns, tokenizer, f"CSV {self.path} row {i + 1}")
            for i, row in enumerate(rows[:n])
        ]
        metrics = {row.get("metric") or "logit_diff" for row in rows[:n]}
        if len(metrics) > 1 or not metrics <= set(METRICS):
            raise UsageError(
                f"CSV {self.path}: metric column holds {sorted(metrics)}; expected one of "
                f"{', '.join(METRICS)} for every row"
            )
        meta = {"source": str(self.path), "tokenizer": tokenizer_label(tokenizer)}
        return assemble(examples, tokenizer, metric=metrics.pop(), task=self.name, meta=meta)

    def _example(self, row, answer_columns, tokenizer, where: str) -> Example:
        clean, corrupted = row["clean"], row["corrupted"]
        clean_ids = bos_ids(tokenizer) + encode(tokenizer, clean)
        corrupted_ids = bos_ids(tokenizer) + encode(tokenizer, corrupted)
        if len(clean_ids) != len(corrupted_ids):
            raise UsageError(
                f"{where}: clean is {len(clean_ids)} tokens but corrupted is "
                f"{len(corrupted_ids)} in tokenizer {tokenizer_label(tokenizer)}; a pair must "
                "have equal lengths: reword the corrupted prompt (e.g. a replacement name of "
                "the same token length)"
            )
        if answer_columns == ID_COLUMNS:
            vocab = len(tokenizer)
            correct, incorrect = (parse_ids(row[c], vocab, f"{where} {c}") for c in ID_COLUMNS)
        else:
            correct, incorrect = (
                parse_words(row[c], tokenizer, clean, f"{where} {c}") for c in TEXT_COLUMNS
            )
        positions = _positions(row.get("positions") or "{}", len(clean_ids), where)
        positions.setdefault("end", len(clean_ids) - 1)
        return Example(
            tuple(clean_ids), tuple(corrupted_ids), tuple(correct), tuple(incorrect), positions
        )
