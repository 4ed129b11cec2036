"""Subject-verb agreement, as used by Tigges et al. 2024 (after Marvin & Linzen 2018).

Clean: ``"The author near the guards"`` -> a singular verb (`` is``, `` was``, `` has``, ...)
rather than its plural form. The corrupted prompt flips the number of the subject
(``author`` -> ``authors``; both single tokens, so lengths match), which flips the answer.

Structures (``structure`` option; ``"all"`` mixes them), Marvin & Linzen's constructions:
- ``simple``: ``"The author"``
- ``sentential``: ``"The guards said the author"`` (sentential complement)
- ``prepositional``: ``"The author near the guards"`` (across a prepositional phrase)
- ``relative``: ``"The author that the guards like"`` (across an object relative clause, whose
  verb agrees with the attractor and is left unchanged by the corruption)
- ``subject_relative``: ``"The author that likes the guards"`` (across a subject relative
  clause; its verb agrees with the subject, so the corruption flips it too)
- ``within_relative``: ``"The author that the guard"`` (within an object relative clause: the
  verb must agree with the clause's subject, ``guard``, which the corruption flips)

Metric: ``prob_diff`` (the paper's, default): probability mass of the verb forms agreeing with
the subject minus that of the other forms, over every verb pair whose forms are single tokens;
``metric="logit_diff"``: the difference of the groups' mean logits (Newman et al. 2021's
grouped evaluation). Positions: ``subject`` (the noun the verb agrees with) and ``end``.

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

__all__ = [
    "CLAUSE_VERBS",
    "NOUNS",
    "PREPOSITIONS",
    "STRUCTURES",
    "SUBJECT_VERB_AGREEMENT",
    "SVA_METRICS",
    "SubjectVerbAgreementTask",
    "VERBS",
]

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
STRUCTURES = (
    "all",
    "simple",
    "sentential",
    "prepositional",
    "relative",
    "subject_relative",
    "within_relative",
)
SVA_METRICS = ("prob_diff", "logit_diff")


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

    def generate(
        self,
        tokenizer,
        n: int,
        seed: int = 0,
        *,
        structure: str = "all",
        metric: str = "prob_diff",
    ) -> PromptPairs:
        """``n`` distinct pairs of ``structure`` (see the module; ``"all"``, one name, or
        several joined by commas, drawn uniformly); ``metric``: prob_diff (default, the
        paper's) or logit_diff."""
        kinds = _structures(structure)
        if metric not in SVA_METRICS:
            raise UsageError(f"metric must be one of {SVA_METRICS}, got {metric!r}")
        nouns = [pair for pair in NOUNS if _pairs_of_tokens(tokenizer, [pair], "The")]
        verbs = _pairs_of_tokens(tokenizer, VERBS, "The author")
        if len(nouns) < 2 or not verbs:
            raise UsageError(
                f"subject-verb-agreement needs nouns and verbs whose singular and plural forms "
                f"are single tokens; tokenizer {tokenizer_label(tokenizer)} has {len(nouns)} "
                f"noun pairs and {len(verbs)} verb pairs (use a word-level BPE tokenizer such "
                "as GPT-2's or Pythia's)"
            )
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
            pieces, flip = _pieces(kind, subject, number, attractor, attractor_number, link)
            singular = number == 0
            other = [*pieces]
            other[flip] = " " + subject[1 - number]
            if kind == "subject_relative":  # the clause's verb agrees with the subject too
                other[flip + 2] = f" {link[1 - number]}"
            return segment_pair(
                tokenizer,
                pieces,
                other,
                slots={"subject": flip},
                changed=[flip, flip + 2] if kind == "subject_relative" else [flip],
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
        meta["metric"] = metric
        return assemble(examples, tokenizer, metric=metric, task=self.name, meta=meta)


def _structures(structure: str) -> tuple[str, ...]:
    """``"all"`` -> every construction; ``"simple,relative"`` -> those, in that order."""
    if structure == "all":
        return STRUCTURES[1:]
    kinds = tuple(part.strip() for part in structure.split(","))
    unknown = [kind for kind in kinds if kind not in STRUCTURES[1:]]
    if unknown or len(set(kinds)) != len(kinds):
        raise UsageError(
            f"structure must be 'all' or distinct names joined by commas from "
            f"{', '.join(STRUCTURES[1:])}; got {structure!r}"
        )
    return kinds


def _pieces(kind, subject, number, attractor, attractor_number, link) -> tuple[list[str], int]:
    """The clean prompt's segments and the index of the segment holding the agreeing noun
    (``subject`` is the noun pair that agrees with the verb, ``number`` its form)."""
    noun = " " + subject[number]
    if kind == "simple":
        return ["The", noun], 1
    other = attractor[attractor_number]
    if kind == "sentential":
        return ["The", f" {other} said the", noun], 2
    if kind == "prepositional":
        return ["The", noun, f" {link} the {other}"], 1
    if kind == "relative":
        return ["The", noun, f" that the {other} {link[attractor_number]}"], 1
    if kind == "subject_relative":
        return ["The", noun, " that", f" {link[number]}", f" the {other}"], 1
    return [f"The {other} that the", noun], 1  # within_relative


SUBJECT_VERB_AGREEMENT = register(SubjectVerbAgreementTask())
