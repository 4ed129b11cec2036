"""Subject-verb agreement, as used by Tigges et al. 2024 (after Finlayson et al. 2021).

Clean: ``"The author near the guards"`` -> a singular verb (`` is``, `` was``, `` has``, ...)
rather than its plural form. The corrupted prompt flips the number of the subject
(``author`` -> ``authors``; both single tokens, so lengths match), which flips the answer.

Structures (``structure`` option; ``"all"`` mixes them):
- ``simple``: ``"The author"``
- ``prepositional``: ``"The author near the guards"`` (an intervening attractor noun)
- ``relative``: ``"The author that the guards like"`` (an intervening relative clause, whose
  verb agrees with the attractor and is left unchanged by the corruption)

Metric: logit difference between the verb *groups* (Newman et al. 2021's grouped evaluation):
mean logit of the forms agreeing with the clean subject minus mean logit of the other forms,
over every verb pair whose two forms are single tokens. Positions: ``subject`` and ``end``.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> pairs = SUBJECT_VERB_AGREEMENT.generate(pythia_tokenizer(), n=4, seed=0)
    >>> sorted(pairs.positions)
    ['end', 'subject']
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mechcirc.errors import UsageError
from mechcirc.tasks.building import assemble, sample_examples, segment_pair
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import register
from mechcirc.tasks.tokens import tokenizer_label, word_token

NOUNS = (  # (singular, plural)
    ("author", "authors"), ("pilot", "pilots"), ("surgeon", "surgeons"), ("farmer", "farmers"),
    ("manager", "managers"), ("customer", "customers"), ("officer", "officers"),
    ("teacher", "teachers"), ("senator", "senators"), ("doctor", "doctors"),
    ("lawyer", "lawyers"), ("dancer", "dancers"), ("guard", "guards"), ("student", "students"),
    ("child", "children"), ("man", "men"), ("woman", "women"), ("king", "kings"),
    ("friend", "friends"), ("artist", "artists"), ("player", "players"), ("writer", "writers"),
    ("driver", "drivers"), ("worker", "workers"), ("boy", "boys"), ("girl", "girls"),
    ("parent", "parents"), ("nurse", "nurses"), ("judge", "judges"), ("minister", "ministers"),
)  # fmt: skip
VERBS = (  # (singular, plural): the answer groups
    ("is", "are"), ("was", "were"), ("has", "have"), ("does", "do"), ("likes", "like"),
    ("knows", "know"), ("says", "say"), ("thinks", "think"), ("wants", "want"),
    ("seems", "seem"), ("needs", "need"), ("makes", "make"), ("gets", "get"),
)  # fmt: skip
PREPOSITIONS = ("near", "behind", "beside", "with", "next to", "across from")
CLAUSE_VERBS = (("likes", "like"), ("hates", "hate"), ("admires", "admire"), ("knows", "know"))
STRUCTURES = ("all", "simple", "prepositional", "relative")


def _pairs_of_tokens(tokenizer, pairs, context: str) -> list[tuple[int, int]]:
    """(singular id, plural id) for each word pair whose forms are both single tokens."""
    found = []
    for singular, plural in pairs:
        ids = (
            word_token(tokenizer, " " + singular, context),
            word_token(tokenizer, " " + plural, context),
        )
        if None not in ids and ids[0] != ids[1]:
            found.append(ids)
    return found


@dataclass(frozen=True)
class SubjectVerbAgreementTask:
    """Subject-verb agreement prompt pairs (see the module docstring)."""

    kind: str = "prompt-pairs"
    name: str = "subject-verb-agreement"
    description: str = (
        "subject-verb agreement: 'The author near the guards' -> singular vs plural verb "
        "group (is/are, was/were, ...); corrupted by flipping the subject's number"
    )

    def generate(self, tokenizer, n: int, seed: int = 0, *, structure: str = "all") -> PromptPairs:
        """``n`` distinct pairs; ``structure``: all | simple | prepositional | relative."""
        if structure not in STRUCTURES:
            raise UsageError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        nouns = [pair for pair in NOUNS if _pairs_of_tokens(tokenizer, [pair], "The")]
        verbs = _pairs_of_tokens(tokenizer, VERBS, "The author")
        if len(nouns) < 2 or not verbs:
            raise UsageError(
                f"subject-verb-agreement needs nouns and verbs whose singular and plural forms "
                f"are single tokens; tokenizer {tokenizer_label(tokenizer)} has {len(nouns)} "
                f"noun pairs and {len(verbs)} verb pairs (use a word-level BPE tokenizer such "
                "as GPT-2's or Pythia's)"
            )
        kinds = STRUCTURES[1:] if structure == "all" else (structure,)
        singular_verbs, plural_verbs = [v[0] for v in verbs], [v[1] for v in verbs]

        def draw(rng: random.Random):
            kind = rng.choice(kinds)
            subject, number = rng.choice(nouns), rng.randrange(2)
            if kind == "simple":
                return kind, subject, number, None, None, None
            attractor, attractor_number = rng.choice(nouns), rng.randrange(2)
            link = rng.choice(PREPOSITIONS if kind == "prepositional" else CLAUSE_VERBS)
            return kind, subject, number, attractor, attractor_number, link

        def build(key):
            kind, subject, number, attractor, attractor_number, link = key
            tail = []
            if kind == "prepositional":
                tail = [f" {link} the {attractor[attractor_number]}"]
            elif kind == "relative":
                tail = [f" that the {attractor[attractor_number]} {link[attractor_number]}"]
            singular = number == 0
            return segment_pair(
                tokenizer,
                ["The", " " + subject[number], *tail],
                ["The", " " + subject[1 - number], *tail],
                slots={"subject": 1},
                changed=[1],
                correct=singular_verbs if singular else plural_verbs,
                incorrect=plural_verbs if singular else singular_verbs,
            )

        examples = sample_examples(
            draw,
            build,
            n,
            seed,
            task=self.name,
            tokenizer=tokenizer,
            hint="more nouns have single-token singular and plural forms",
        )
        meta = {"tokenizer": tokenizer_label(tokenizer), "structure": structure}
        return assemble(examples, tokenizer, metric="logit_diff", task=self.name, meta=meta)


SUBJECT_VERB_AGREEMENT = register(SubjectVerbAgreementTask())
