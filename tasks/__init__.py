"""Prompt-pair tasks (imported as ``mechcirc.tasks``): the batches every analysis consumes."""

from mechcirc.tasks.metrics import METRICS, logit_diff, prob_diff
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import Task, get, load_pairs, names, register

__all__ = [
    "METRICS",
    "PromptPairs",
    "Task",
    "get",
    "load_pairs",
    "logit_diff",
    "names",
    "prob_diff",
    "register",
]
