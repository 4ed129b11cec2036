"""Tokenizers bundled with mechcirc, for offline models, demos and tests.

Example:
    >>> tok = pythia_tokenizer()
    >>> tok("Hello, I am")["input_ids"]
    [12092, 13, 309, 717]
"""

from __future__ import annotations

import functools
import tempfile
from importlib import resources
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

__all__ = ["bundled_tokenizer_path", "pythia_tokenizer", "saved_tokenizer", "tokenizer_from_file"]

_ENDOFTEXT = "<|endoftext|>"


def bundled_tokenizer_path(filename: str = "pythia-gpt-neox-20b.tokenizer.json") -> Path:
    """Path of a tokenizer file shipped in ``mechcirc/data``."""
    return Path(str(resources.files("mechcirc") / "data" / filename))


def tokenizer_from_file(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a ``tokenizer.json`` (Pythia / GPT-2 style BPE) as a transformers tokenizer.

    The end-of-text token doubles as BOS, EOS and padding, as in Pythia and GPT-2.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        bos_token=_ENDOFTEXT,
        eos_token=_ENDOFTEXT,
        unk_token=_ENDOFTEXT,
        pad_token=_ENDOFTEXT,
    )


def pythia_tokenizer() -> PreTrainedTokenizerBase:
    """The real GPT-NeoX-20B tokenizer used by every Pythia model."""
    return saved_tokenizer("pythia-gpt-neox-20b.tokenizer.json")


@functools.cache
def _saved_root() -> tempfile.TemporaryDirectory:
    # Made on first use and kept by the cache for the life of the process, because
    # TransformerLens re-loads a tokenizer from its name_or_path.
    return tempfile.TemporaryDirectory(prefix="mechcirc-tokenizers-")


@functools.cache
def _saved_folder(filename: str) -> str:
    folder = Path(_saved_root().name) / filename.removesuffix(".json")
    tokenizer_from_file(bundled_tokenizer_path(filename)).save_pretrained(folder)
    return str(folder)


def saved_tokenizer(filename: str) -> PreTrainedTokenizerBase:
    """A bundled tokenizer loaded through ``AutoTokenizer`` from a saved folder.

    Loading from a folder (not a bare file) gives the tokenizer a ``name_or_path`` that
    TransformerLens can re-load when it boots a bridge.
    """
    return AutoTokenizer.from_pretrained(_saved_folder(filename))
