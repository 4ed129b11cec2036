"""Gendered pronoun resolution (Mathwin et al. 2023), as used by Tigges et al. 2024.

Clean: ``"So Mary is such a good friend, isn't"`` -> `` she`` rather than `` he``. The
corrupted prompt swaps the name for one of the other gender (same token length: names are
single tokens in the given tokenizer), which flips the answer. Adjectives and nouns vary the
template; they are gender-neutral so only the name carries the cue.

Metric: logit difference, logit(pronoun of the clean name's gender) - logit(other pronoun).
Positions: ``name`` and ``end``.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> pairs = GENDERED_PRONOUN.generate(pythia_tokenizer(), n=4, seed=0)
    >>> sorted(pairs.positions)
    ['end', 'name']
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mechcirc.errors import UsageError
from mechcirc.tasks.building import assemble, sample_examples, segment_pair
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import register
from mechcirc.tasks.tokens import single_token_words, tokenizer_label

__all__ = [
    "ADJECTIVES",
    "FEMALE_NAMES",
    "GENDERED_PRONOUN",
    "GenderedPronounTask",
    "MALE_NAMES",
    "NOUNS",
    "PRONOUNS",
    "TEMPLATES",
]

# (opening, middle) around the name: "So" + " Mary" + " is such a" + " good friend, isn't".
TEMPLATES = (("So", " is such a"), ("So", " is a really"), ("Well, you know,", " is such a"))
ADJECTIVES = (
    "good", "great", "kind", "nice", "smart", "funny", "talented", "wonderful", "brave",
    "loyal", "friendly", "honest", "patient", "gentle", "generous", "clever",
)  # fmt: skip
NOUNS = (
    "friend", "person", "cook", "teacher", "student", "neighbor", "writer", "dancer", "singer",
    "leader", "player", "worker", "driver", "listener", "partner", "colleague",
)  # fmt: skip
MALE_NAMES = (
    "John", "David", "Michael", "James", "Robert", "William", "Richard", "Thomas", "Mark",
    "Paul", "Peter", "George", "Daniel", "Matthew", "Steven", "Kevin", "Brian", "Eric", "Jason",
    "Adam", "Andrew", "Ryan", "Jack", "Henry", "Frank", "Scott", "Luke", "Sean", "Tom", "Mike",
    "Joe", "Steve", "Charles", "Edward", "Joseph", "Patrick", "Simon", "Tony", "Bob", "Jim",
)  # fmt: skip
FEMALE_NAMES = (
    "Mary", "Sarah", "Jessica", "Jennifer", "Elizabeth", "Emily", "Laura", "Lisa", "Anna",
    "Rachel", "Michelle", "Kate", "Amy", "Alice", "Jane", "Rose", "Emma", "Linda", "Susan",
    "Karen", "Nancy", "Helen", "Julia", "Maria", "Diana", "Grace", "Olivia", "Sophia", "Hannah",
    "Lucy", "Ruth", "Claire", "Anne", "Ellen", "Victoria", "Rebecca", "Catherine", "Barbara",
)  # fmt: skip
PRONOUNS = {"male": " he", "female": " she"}


@dataclass(frozen=True)
class GenderedPronounTask:
    """Gendered pronoun prompt pairs (see the module docstring)."""

    kind: str = "prompt-pairs"
    name: str = "gendered-pronoun"
    description: str = (
        "gendered pronoun: \"So Mary is such a good friend, isn't\" -> ' she' vs ' he'; "
        "corrupted with a name of the other gender"
    )

    def generate(self, tokenizer, n: int, seed: int = 0) -> PromptPairs:
        """``n`` distinct pairs, half with a female and half with a male clean name on average."""
        names = {
            "male": single_token_words(tokenizer, [" " + name for name in MALE_NAMES]),
            "female": single_token_words(tokenizer, [" " + name for name in FEMALE_NAMES]),
        }
        pronouns = single_token_words(tokenizer, PRONOUNS.values(), context="isn't")
        if len(pronouns) < 2 or not all(names.values()):
            raise UsageError(
                f"gendered-pronoun needs ' he', ' she' and names of both genders as single "
                f"tokens; tokenizer {tokenizer_label(tokenizer)} has pronouns "
                f"{sorted(pronouns)}, {len(names['male'])} male and {len(names['female'])} "
                "female names (use a word-level BPE tokenizer such as GPT-2's or Pythia's)"
            )
        pools = {gender: sorted(found) for gender, found in names.items()}

        def draw(rng: random.Random):
            gender = rng.choice(("female", "male"))
            other = "male" if gender == "female" else "female"
            return (
                rng.randrange(len(TEMPLATES)),
                gender,
                rng.choice(pools[gender]),
                rng.choice(pools[other]),
                rng.choice(ADJECTIVES),
                rng.choice(NOUNS),
            )

        def build(key):
            t, gender, name, other_name, adjective, noun = key
            opening, middle = TEMPLATES[t]
            tail = f" {adjective} {noun}, isn't"
            other = "male" if gender == "female" else "female"
            return segment_pair(
                tokenizer,
                [opening, name, middle, tail],
                [opening, other_name, middle, tail],
                slots={"name": 1},
                changed=[1],
                correct=[pronouns[PRONOUNS[gender]]],
                incorrect=[pronouns[PRONOUNS[other]]],
            )

        examples = sample_examples(
            draw,
            build,
            n,
            seed,
            task=self.name,
            tokenizer=tokenizer,
            hint="more of the listed first names are single tokens",
        )
        meta = {"tokenizer": tokenizer_label(tokenizer)}
        return assemble(examples, tokenizer, metric="logit_diff", task=self.name, meta=meta)


GENDERED_PRONOUN = register(GenderedPronounTask())
