"""Prompt-pair tasks (imported as ``mechcirc.tasks``): the batches every analysis consumes."""

from mechcirc.splits import TrainTestSplit
from mechcirc.tasks.csv_task import CsvTask
from mechcirc.tasks.gendered_pronoun import GENDERED_PRONOUN
from mechcirc.tasks.greater_than import GREATER_THAN
from mechcirc.tasks.io import (
    export_csv,
    pairs_from_records,
    pairs_to_dataset,
    pairs_to_records,
    read_jsonl,
    write_jsonl,
)
from mechcirc.tasks.ioi import IOI
from mechcirc.tasks.metrics import METRICS, logit_diff, prob_diff
from mechcirc.tasks.modular_addition import MODULAR_ADDITION
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import Task, get, load_pairs, names, prompt_pair_task, register
from mechcirc.tasks.sparse_modular_addition import SPARSE_MODULAR_ADDITION
from mechcirc.tasks.subject_verb_agreement import SUBJECT_VERB_AGREEMENT

__all__ = [
    "CsvTask",
    "GENDERED_PRONOUN",
    "GREATER_THAN",
    "IOI",
    "METRICS",
    "MODULAR_ADDITION",
    "PromptPairs",
    "SPARSE_MODULAR_ADDITION",
    "SUBJECT_VERB_AGREEMENT",
    "Task",
    "TrainTestSplit",
    "export_csv",
    "get",
    "load_pairs",
    "logit_diff",
    "names",
    "pairs_from_records",
    "pairs_to_dataset",
    "pairs_to_records",
    "prob_diff",
    "prompt_pair_task",
    "read_jsonl",
    "register",
    "write_jsonl",
]
