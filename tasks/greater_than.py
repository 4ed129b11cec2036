"""Greater-than (Hanna et al. 2023), as used by Tigges et al. 2024.

Clean: ``"The war lasted from the year 1732 to the year 17"``; a model that compares years puts
its probability on two-digit continuations ``33``..``99``. The corrupted prompt starts in year
``XX01`` (Hanna et al.'s choice), so no continuation is ruled out. Centuries ``11``..``17`` and
``YY`` in ``02``..``98`` as in the paper. The hundred ``00``..``99`` must be single tokens in
the given tokenizer, and a start year is used only if it splits into `` XX`` + ``YY`` (GPT-2
has `` 1700`` and `` 1440`` as single tokens; those years are skipped).

Metric: probability difference, the mass on ``YY+1``..``99`` minus the mass on ``00``..``YY``
(Hanna et al.'s "probability difference"). Positions: ``yy`` (the start year's last two digits)
and ``end``.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> pairs = GREATER_THAN.generate(pythia_tokenizer(), n=4, seed=0)
    >>> pairs.metric, sorted(pairs.positions)
    ('prob_diff', ['end', 'yy'])
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mechcirc.errors import UsageError
from mechcirc.tasks.building import assemble, sample_examples, segment_pair
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import register
from mechcirc.tasks.tokens import encode, tokenizer_label

__all__ = [
    "CENTURIES",
    "CORRUPT_YEAR",
    "GREATER_THAN",
    "GreaterThanTask",
    "NOUNS",
    "START_YEARS",
    "year_tokens",
]

NOUNS = (
    "abduction", "accord", "affair", "agreement", "appraisal", "assault", "assessment",
    "attack", "campaign", "captivity", "case", "challenge", "chaos", "clash", "collaboration",
    "coma", "competition", "confrontation", "conspiracy", "construction", "consultation",
    "contract", "convention", "cooperation", "custody", "deal", "decline", "development",
    "dispute", "domination", "dynasty", "effort", "employment", "engagement", "epidemic",
    "evaluation", "exchange", "existence", "expansion", "expedition", "feud", "flood", "growth",
    "hostility", "improvement", "investigation", "journey", "lawsuit", "leadership",
    "marriage", "migration", "mission", "movement", "negotiation", "occupation", "operation",
    "partnership", "pilgrimage", "plague", "program", "project", "rebellion", "reconstruction",
    "reform", "relationship", "research", "resistance", "revolution", "riot", "rule", "search",
    "settlement", "siege", "strike", "struggle", "study", "survey", "trial", "trip", "unrest",
    "uprising", "war",
)  # fmt: skip
CENTURIES = tuple(range(11, 18))
START_YEARS = tuple(range(2, 99))
CORRUPT_YEAR = 1


def year_tokens(tokenizer) -> list[int] | None:
    """Token ids of ``00``..``99``; ``None`` unless each is one distinct token."""
    tokens = [encode(tokenizer, f"{yy:02d}") for yy in range(100)]
    if any(len(ids) != 1 for ids in tokens) or len({ids[0] for ids in tokens}) != 100:
        return None
    return [ids[0] for ids in tokens]


@dataclass(frozen=True)
class GreaterThanTask:
    """Greater-than prompt pairs (see the module docstring)."""

    kind: str = "prompt-pairs"
    name: str = "greater-than"
    description: str = (
        "greater-than: 'The war lasted from the year 1732 to the year 17' -> P(33..99) - "
        "P(00..32); corrupted start year 1701"
    )

    def generate(self, tokenizer, n: int, seed: int = 0) -> PromptPairs:
        """``n`` distinct pairs over nouns, centuries 11-17 and start years 02-98."""
        tokens = year_tokens(tokenizer)
        if tokens is None:
            raise UsageError(
                f"greater-than needs every two-digit number 00..99 to be one token (years "
                f"split as ' 17' + '32'); tokenizer {tokenizer_label(tokenizer)} splits them "
                "(e.g. digit-by-digit tokenizers such as Llama's); use a tokenizer with "
                "two-digit number tokens such as GPT-2's or Pythia's"
            )

        def draw(rng: random.Random):
            return rng.choice(NOUNS), rng.choice(CENTURIES), rng.choice(START_YEARS)

        def build(key):
            noun, century, yy = key
            head = ["The", f" {noun}", " lasted from the year", f" {century}"]
            tail = [" to the year", f" {century}"]
            example = segment_pair(
                tokenizer,
                [*head, f"{yy:02d}", *tail],
                [*head, f"{CORRUPT_YEAR:02d}", *tail],
                slots={"yy": 4},
                changed=[4],
                correct=tokens[yy + 1 :],
                incorrect=tokens[: yy + 1],
            )
            # The start year must split into " XX" + "YY" with the very token the answers use
            # (GPT-2 has e.g. " 1700" as one token: such years are skipped).
            ok = example is not None and example.clean[example.positions["yy"]] == tokens[yy]
            return example if ok else None

        examples = sample_examples(
            draw,
            build,
            n,
            seed,
            task=self.name,
            tokenizer=tokenizer,
            hint="years such as 1732 split into ' 17' + '32'",
        )
        meta = {"tokenizer": tokenizer_label(tokenizer)}
        return assemble(examples, tokenizer, metric="prob_diff", task=self.name, meta=meta)


GREATER_THAN = register(GreaterThanTask())
