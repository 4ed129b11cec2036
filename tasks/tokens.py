"""Tokenizer-aware building blocks shared by the prompt-pair tasks.

Convention: a prompt is the tokenizer's BOS token (when it has one) followed by the text encoded
with ``add_special_tokens=False``, exactly what TransformerLens's ``to_tokens(prepend_bos=True)``
gives. Encoding without special tokens and adding BOS here makes a raw HF tokenizer and a
TransformerBridge's ``model.tokenizer`` (which adds BOS itself) produce identical ids.

Words are always measured *in context* (``continuation``): SentencePiece tokenizers (Llama
family) add a prefix space to the start of a text, so encoding ``" Mary"`` on its own does not
give the token ``"▁Mary"`` that appears inside a sentence.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> tok = pythia_tokenizer()
    >>> word_token(tok, " Mary") == tok(" Mary")["input_ids"][0]
    True
    >>> ids, starts = tokenize_segments(tok, ["Then,", " Mary", " and", " John"])
    >>> starts  # token index where each segment starts (BOS is index 0)
    [1, 3, 4, 5]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "bos_ids",
    "continuation",
    "encode",
    "pad_id",
    "single_token_words",
    "tokenize_segments",
    "tokenizer_label",
    "word_token",
]

# A short neutral text before a word, so the word is tokenized as it is mid-sentence.
_CONTEXT = "Then"


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` without any special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def bos_ids(tokenizer) -> list[int]:
    """``[bos_token_id]`` when the tokenizer has a BOS token, else ``[]``."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return [] if bos is None else [int(bos)]


def pad_id(tokenizer) -> int:
    """The id used to right-pad batches (masked out, so any valid id would do)."""
    for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def tokenizer_label(tokenizer) -> str:
    """A short name for messages and metadata: the tokenizer's path or class."""
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)


def continuation(tokenizer, prefix: str, piece: str) -> list[int] | None:
    """Ids ``piece`` adds after ``prefix``; ``None`` if the two merge across the boundary."""
    head, whole = encode(tokenizer, prefix), encode(tokenizer, prefix + piece)
    if whole[: len(head)] != head:
        return None
    return whole[len(head) :]


def word_token(tokenizer, word: str, context: str = _CONTEXT) -> int | None:
    """The single token of ``word`` (e.g. ``" Mary"``) after ``context``, or ``None``."""
    ids = continuation(tokenizer, context, word)
    return ids[0] if ids is not None and len(ids) == 1 else None


def single_token_words(tokenizer, words: Iterable[str], context: str = _CONTEXT) -> dict[str, int]:
    """The words (in order) that are one token in ``tokenizer``, mapped to that token."""
    found = {}
    for word in words:
        token = word_token(tokenizer, word, context)
        if token is not None:
            found[word] = token
    return found


def tokenize_segments(tokenizer, segments: Sequence[str]) -> tuple[list[int], list[int]] | None:
    """BOS + ids of ``"".join(segments)`` and the token index where each segment starts.

    ``None`` when a segment boundary falls inside a token (the pieces merged), so a caller
    never reads a "name position" that is really half of another token.
    """
    prefixes = ["".join(segments[: k + 1]) for k in range(len(segments))]
    encoded = tokenizer(prefixes, add_special_tokens=False)["input_ids"]
    whole = list(encoded[-1])
    starts = [0]
    for ids in encoded[:-1]:
        if list(ids) != whole[: len(ids)]:
            return None
        starts.append(len(ids))
    if any(b <= a for a, b in zip(starts, [*starts[1:], len(whole)], strict=True)):
        return None  # an empty segment, or one whose tokens were absorbed by a neighbour
    offset = len(bos_ids(tokenizer))
    return bos_ids(tokenizer) + whole, [s + offset for s in starts]
