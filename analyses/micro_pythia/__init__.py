"""The built-in micro-Pythia: its corpus, its training and its measured behaviour.

A small GPT-NeoX with Pythia's architecture, trained by mechcirc on a synthetic corpus from the
task generators (IOI, greater-than, gendered pronoun, subject-verb agreement) plus repeated
random tokens (induction); its checkpoints ship in ``mechcirc/data/micro-pythia`` and
``mechcirc models build-offline`` puts them in the offline hub as ``mechcirc/micro-pythia``.

Example:
    >>> from mechcirc.analyses.micro_pythia import MicroPythiaConfig, train_micro_pythia
    >>> trained = train_micro_pythia(MicroPythiaConfig(), "runs/micro")   # doctest: +SKIP
"""

from mechcirc.analyses.micro_pythia.config import MicroPythiaConfig
from mechcirc.analyses.micro_pythia.corpus import Corpus, build_corpus, sample_text
from mechcirc.analyses.micro_pythia.model import causal_lm_logits, compact_model
from mechcirc.analyses.micro_pythia.train import (
    TrainedMicroPythia,
    compare_with_shipped,
    train_micro_pythia,
)

__all__ = [
    "Corpus",
    "MicroPythiaConfig",
    "TrainedMicroPythia",
    "build_corpus",
    "causal_lm_logits",
    "compact_model",
    "compare_with_shipped",
    "sample_text",
    "train_micro_pythia",
]
