"""Tasks by name: ``get("ioi")``, ``names()``, and ``load_pairs`` for name-or-CSV callers.

A prompt-pair task is any object with ``kind = "prompt-pairs"``, a ``name``, a one-line
``description`` and ``generate(tokenizer, n, seed) -> PromptPairs``. Training datasets for toy
models (modular addition) register with ``kind = "dataset"`` so they are listed too, but they
build tensors, not prompt pairs. ``register`` adds either under its name.

Example:
    >>> from mechcirc import tasks
    >>> pairs = tasks.load_pairs("ioi", tokenizer, n=32, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Protocol, runtime_checkable

from mechcirc.errors import UsageError
from mechcirc.tasks.csv_task import CsvTask
from mechcirc.tasks.pairs import PromptPairs

__all__ = ["PromptPairTask", "Task", "get", "load_pairs", "names", "prompt_pair_task", "register"]


@runtime_checkable
class Task(Protocol):
    kind: str  # "prompt-pairs" or "dataset"
    name: str
    description: str


@runtime_checkable
class PromptPairTask(Task, Protocol):
    """A task that builds clean / corrupted prompt pairs (``kind = "prompt-pairs"``)."""

    def generate(self, tokenizer, n: int, seed: int = 0, **options) -> PromptPairs: ...


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` under ``task.name``; a second task with the same name is an error."""
    if task.name in _REGISTRY and _REGISTRY[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def names() -> list[str]:
    """Every registered task name, sorted."""
    return sorted(_REGISTRY)


def get(name: str | Path) -> Task:
    """The task registered as ``name``, or a ``CsvTask`` for a path ending in ``.csv``.

    An unknown name lists the known ones.
    """
    name = str(name)
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.lower().endswith(".csv"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise UsageError(f"CSV file not found: {path} (give an existing EAP-IG-format CSV)")
        return CsvTask(path)
    close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UsageError(
        f"unknown task {name!r}.{hint} Known tasks: {', '.join(names())}; "
        "or give the path of an EAP-IG-format CSV."
    )


def load_pairs(name_or_csv: str | Path, tokenizer, n: int, seed: int = 0, **options) -> PromptPairs:
    """Prompt pairs from a registered task name or an EAP-IG-format CSV path.

    ``options`` go to the task's ``generate`` (e.g. ``corruption="s2-io"`` for IOI).
    """
    if n < 1:
        raise UsageError(f"n must be a positive number of examples, got {n}")
    return prompt_pair_task(name_or_csv).generate(tokenizer, n=n, seed=seed, **options)


def prompt_pair_task(name_or_csv: str | Path) -> PromptPairTask:
    """``get(name_or_csv)``, refusing training datasets (they build tensors, not prompt pairs)."""
    task = get(name_or_csv)
    if task.kind != "prompt-pairs":
        raise UsageError(
            f"task {task.name!r} is a {task.kind} for training toy models, not prompt pairs; "
            f"prompt-pair tasks: {', '.join(n for n in names() if get(n).kind == 'prompt-pairs')}"
        )
    return task
