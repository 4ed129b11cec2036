"""Which prompt pairs a run uses, as a typed config that manifests record and reruns reload."""

from __future__ import annotations

from dataclasses import dataclass

from mechcirc.config import Config, require_positive_int
from mechcirc.errors import UsageError
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import load_pairs, prompt_pair_task

__all__ = ["TaskSpec"]


@dataclass(frozen=True)
class TaskSpec(Config):
    """A task name (or EAP-IG CSV path), the number of pairs and the seed that generates them.

    The task is looked up when the spec is built, so a typo fails before any model loads.

    Example:
        >>> TaskSpec("ioi", n=32, seed=0).name
        'ioi'
    """

    name: str = "ioi"
    n: int = 32
    seed: int = 0

    def validate(self) -> None:
        require_positive_int("n", self.n)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"seed must be an integer, got {self.seed!r}")
        prompt_pair_task(self.name)

    def load(self, tokenizer) -> PromptPairs:
        """The prompt pairs, tokenized by ``tokenizer``."""
        return load_pairs(self.name, tokenizer, n=self.n, seed=self.seed)
