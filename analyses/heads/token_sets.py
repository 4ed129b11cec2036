"""The token sets head scores read: IOI names and the successor-score sequences.

Successor sequences are Tigges et al.'s (circuits-over-time, after Gould et al. 2023): numbers
1-200, number words one-twenty, ordinals first-tenth, days and months (cyclic: the last member's
successor is the first), short day and month names (cyclic), capital letters and Roman numerals
I-XX; each also with inverted capitalisation and with a leading space where that makes a new
variant (letters and numerals only with the leading space). A member that is not a single token
in the model's tokenizer becomes ``-1`` (pairs with it are skipped).

Example:
    >>> sequences = successor_sequences(tokenizer)     # doctest: +SKIP
    >>> len(sequences)                                  # 9 bases x variants
"""

from __future__ import annotations

import torch
from jaxtyping import Int
from torch import Tensor

from mechcirc.errors import UsageError
from mechcirc.tasks.ioi import NAMES
from mechcirc.tasks.tokens import single_token_words

__all__ = ["SUCCESSOR_BASES", "ioi_name_tokens", "successor_sequences", "successor_words"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NUMBER_WORDS = _words(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
)
_ROMAN = _words("I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX")
_ORDINALS = _words("first second third fourth fifth sixth seventh eighth ninth tenth")
# name -> (cyclic, members)
SUCCESSOR_BASES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "numbers_1_200": (False, tuple(str(i) for i in range(1, 201))),
    "number_words_1_20": (False, _NUMBER_WORDS),
    "ordinal_words_1_10": (False, _ORDINALS),
    "days": (True, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")),
    "days_short": (True, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")),
    "months": (
        True,
        ("January", "February", "March", "April", "May", "June", "July", "August", "September",
         "October", "November", "December"),
    ),
    "months_short": (
        True,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    ),
    "letters": (False, tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    "numerals": (False, _ROMAN),
}  # fmt: skip
_NO_CASE_VARIANT = ("letters", "numerals")


def _invert_case(word: str) -> str:
    first = word[0].lower() if word[0].isupper() else word[0].upper()
    return first + word[1:]


def successor_words() -> dict[str, list[str]]:
    """Every sequence variant as words (cyclic ones repeat their first member at the end)."""
    variants: dict[str, list[str]] = {}
    for name, (cyclic, members) in SUCCESSOR_BASES.items():
        for invert in (False, True):
            if invert and name in _NO_CASE_VARIANT:
                continue
            for space in (False, True):
                words = [_invert_case(w) if invert else w for w in members]
                words = [" " + w if space else w for w in words]
                label = f"{'inverted_' if invert else ''}{'space_' if space else ''}{name}"
                variants[label] = [*words, words[0]] if cyclic else words
    return variants


def _single_token(tokenizer, word: str) -> int:
    ids = tokenizer.encode(word, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else -1


def successor_sequences(tokenizer) -> list[Int[Tensor, " m"]]:
    """:func:`successor_words` as token ids (``-1`` where a member is not one token); only
    sequences with at least one valid pair."""
    if tokenizer is None:
        raise UsageError("this model has no tokenizer: pass the successor sequences explicitly")
    found = []
    for words in successor_words().values():
        seq = torch.tensor([_single_token(tokenizer, w) for w in words])
        if ((seq[:-1] >= 0) & (seq[1:] >= 0)).any():
            found.append(seq)
    return found


def ioi_name_tokens(tokenizer) -> Int[Tensor, " n"]:
    """The IOI task's names that are single tokens (with a leading space)."""
    if tokenizer is None:
        raise UsageError("this model has no tokenizer: pass the token ids to score explicitly")
    found = single_token_words(tokenizer, [" " + name for name in NAMES])
    return torch.tensor(sorted(set(found.values())))
