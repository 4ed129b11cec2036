"""Natural text as fixed-length token sequences (for CSPA and other natural-text measures).

The bundled corpus (``mechcirc/data/public_domain_corpus.txt``, ~1,400 words of public-domain
English prose; sources in ``mechcirc/data/README.md``) is the default; any UTF-8 text file can
replace it. The built-in micro-Pythia gets its own natural text instead
(``mechcirc/data/micro-pythia/text.txt``: held-out sentences of its training corpus), since
English prose is mostly outside its 516-token vocabulary, as OpenWebText is GPT-2's.

Example:
    >>> tokens = corpus_tokens(model.tokenizer, seq_len=61)   # doctest: +SKIP
    >>> tokens.shape                                            # [n_sequences, 61]
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.models.micro_spec import MICRO_PYTHIA_ID, TEXT_FILE, shipped_folder

__all__ = [
    "BUNDLED_CORPUS",
    "corpus_text",
    "corpus_tokens",
    "default_text_path",
    "model_corpus_tokens",
]

BUNDLED_CORPUS = "public_domain_corpus.txt"


def corpus_text(path: str | Path | None = None) -> str:
    """The text of ``path``, or of the bundled public-domain corpus when None."""
    if path is None:
        return resources.files("mechcirc").joinpath("data", BUNDLED_CORPUS).read_text("utf-8")
    text = Path(path).read_text("utf-8")
    if not text.strip():
        raise UsageError(f"{path}: the text file is empty; give a file of natural-language text")
    return text


def corpus_tokens(
    tokenizer,
    text: str | None = None,
    *,
    seq_len: int = 61,
    n_sequences: int | None = None,
    bos: int | None = None,
) -> Int[Tensor, "n seq_len"]:
    """``text`` (default: the bundled corpus) tokenized and cut into consecutive sequences of
    ``seq_len`` tokens (the first one ``bos`` when given); at most ``n_sequences`` of them."""
    if seq_len < 2:
        raise UsageError(f"seq_len must be at least 2, got {seq_len}")
    ids = tokenizer.encode(corpus_text() if text is None else text, add_special_tokens=False)
    body = seq_len - (bos is not None)
    n = len(ids) // body if n_sequences is None else min(n_sequences, len(ids) // body)
    if n < 1:
        raise UsageError(
            f"the text has {len(ids)} tokens, fewer than one sequence of {body}: give a longer "
            "text or a shorter seq_len"
        )
    tokens = torch.tensor(ids[: n * body]).view(n, body)
    if bos is not None:
        tokens = torch.cat([torch.full((n, 1), bos), tokens], dim=1)
    return tokens


def default_text_path(model) -> Path | None:
    """The text natural-text measures use for ``model`` when none is given: the micro-Pythia's
    own (its held-out corpus sample) for the built-in micro-Pythia, else None (the bundled
    English corpus)."""
    source = getattr(model, "mechcirc_source", None)
    if getattr(source, "model_id", None) == MICRO_PYTHIA_ID:
        return shipped_folder() / TEXT_FILE
    return None


def model_corpus_tokens(
    model, path: str | Path | None = None, *, seq_len: int = 61
) -> Int[Tensor, "n seq_len"]:
    """:func:`corpus_tokens` of ``path`` (default: :func:`default_text_path`, else the bundled
    corpus) for ``model``: its tokenizer, with its BOS first when the model prepends one."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise UsageError("this model has no tokenizer: pass the natural-text token ids instead")
    bos = getattr(tokenizer, "bos_token_id", None)
    bos = bos if getattr(model.cfg, "default_prepend_bos", False) else None
    path = path if path is not None else default_text_path(model)
    text = None if path is None else corpus_text(path)
    return corpus_tokens(tokenizer, text, seq_len=seq_len, bos=bos)
