"""Indirect object identification (Wang et al. 2022), as used by Tigges et al. 2024.

Clean: ``"Then, Mary and John went to the store. John gave a drink to"`` -> `` Mary`` (the
indirect object, IO) rather than `` John`` (the subject, S, named twice). Templates, places and
objects are those of Wang et al.'s ``ioi_dataset``; both name orders are used (ABBA: IO first,
BABA: S first). Names are kept only if they are one token (with a leading space) in the given
tokenizer.

Corruptions (each changes exactly the second subject name S2):
- ``"abc"`` (default, Hanna et al.'s EAP-IG "S2 -> random name"): S2 becomes a third name C,
  so no name repeats and the model has no cue which name is the IO.
- ``"s2-io"``: S2 becomes the IO name, which flips the correct answer.

Metric: logit difference, logit(IO) - logit(S), at the last token. Positions: ``io``, ``s1``,
``s2`` (in the clean prompt) and ``end``.

Example:
    >>> from mechcirc.models.tokenizers import pythia_tokenizer
    >>> pairs = IOI.generate(pythia_tokenizer(), n=8, seed=0)
    >>> pairs.clean.shape[0], sorted(pairs.positions)
    (8, ['end', 'io', 's1', 's2'])
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from mechcirc.errors import UsageError
from mechcirc.tasks.building import assemble, sample_examples, segment_pair
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import register
from mechcirc.tasks.tokens import single_token_words, tokenizer_label

__all__ = [
    "BABA_TEMPLATES",
    "CORRUPTIONS",
    "IOI",
    "IOITask",
    "NAMES",
    "OBJECTS",
    "ORDERS",
    "PLACES",
    "fill",
    "template_pieces",
]

# Wang et al.'s BABA templates ([B] = subject, [A] = indirect object); the final " [A]" is the
# answer and is cut. ABBA templates swap the first two names.
BABA_TEMPLATES = (
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a "
    "[OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
)
PLACES = ("store", "garden", "restaurant", "school", "hospital", "office", "house", "station")
OBJECTS = ("ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack")
NAMES = (  # Wang et al.'s list
    "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Anderson", "Andre", "Andrew", "Andy", "Anna",
    "Anthony", "Arthur", "Austin", "Blake", "Brandon", "Brian", "Carter", "Charles", "Charlie",
    "Christian", "Christopher", "Clark", "Cole", "Collins", "Connor", "Crew", "Crystal", "Daniel",
    "David", "Dean", "Edward", "Elizabeth", "Emily", "Eric", "Eva", "Ford", "Frank", "George",
    "Georgia", "Graham", "Grant", "Henry", "Ian", "Jack", "Jacob", "Jake", "James", "Jamie",
    "Jane", "Jason", "Jay", "Jennifer", "Jeremy", "Jessica", "John", "Jonathan", "Jordan",
    "Joseph", "Joshua", "Justin", "Kate", "Kelly", "Kevin", "Kyle", "Laura", "Leon", "Lewis",
    "Lisa", "Louis", "Luke", "Madison", "Marco", "Marcus", "Maria", "Mark", "Martin", "Mary",
    "Matthew", "Max", "Michael", "Michelle", "Morgan", "Patrick", "Paul", "Peter", "Prince",
    "Rachel", "Richard", "River", "Robert", "Roman", "Rose", "Ruby", "Russell", "Ryan", "Sarah",
    "Scott", "Sean", "Simon", "Stephen", "Steven", "Sullivan", "Taylor", "Thomas", "Tyler",
    "Victoria", "Warren", "William",
)  # fmt: skip
ORDERS = ("mixed", "abba", "baba")
CORRUPTIONS = ("abc", "s2-io")


def template_pieces(template: str, order: str) -> list[str]:
    """A BABA template as segments with slots ``[S1] [IO] [S2] [PLACE] [OBJECT]``, answer cut.

    >>> "|".join(template_pieces("After [B] and [A] went to the [PLACE], [B] left", "abba"))
    'After| [IO]| and| [S1]| went to the| [PLACE]|,| [S2]| left'
    """
    text = template.removesuffix(" [A]").replace("[B]", "[S1]", 1).replace("[A]", "[IO]", 1)
    text = text.replace("[B]", "[S2]")
    if order == "abba":
        text = text.replace("[S1] and [IO]", "[IO] and [S1]")
    return [piece for piece in re.split(r"(?= \[)|(?<=\])", text) if piece]


def fill(pieces: list[str], words: dict[str, str]) -> list[str]:
    """Segments with each `` [SLOT]`` replaced by ``words["[SLOT]"]`` (which has its space)."""
    return [
        words.get(piece.strip(), piece) if piece.startswith(" [") else piece for piece in pieces
    ]


@dataclass(frozen=True)
class IOITask:
    """Indirect object identification prompt pairs (see the module docstring)."""

    kind: str = "prompt-pairs"
    name: str = "ioi"
    description: str = (
        "indirect object identification: 'Then, Mary and John went to the store. John gave a "
        "drink to' -> ' Mary' vs ' John'; corruption abc (S2 -> third name) or s2-io"
    )

    def generate(
        self, tokenizer, n: int, seed: int = 0, *, corruption: str = "abc", order: str = "mixed"
    ) -> PromptPairs:
        """``n`` distinct IOI pairs. ``corruption``: abc | s2-io; ``order``: mixed | abba | baba."""
        if corruption not in CORRUPTIONS:
            raise UsageError(f"IOI corruption must be one of {CORRUPTIONS}, got {corruption!r}")
        if order not in ORDERS:
            raise UsageError(f"IOI order must be one of {ORDERS}, got {order!r}")
        names = single_token_words(tokenizer, [" " + name for name in NAMES])
        if len(names) < 3:
            raise UsageError(
                f"IOI needs at least 3 names that are single tokens with a leading space; "
                f"tokenizer {tokenizer_label(tokenizer)} has {len(names)} of {len(NAMES)} "
                "(use a word-level BPE tokenizer such as GPT-2's or Pythia's)"
            )
        name_list = sorted(names)
        orders = ("abba", "baba") if order == "mixed" else (order,)

        def draw(rng: random.Random):
            io, s, c = rng.sample(name_list, 3)
            return (
                rng.randrange(len(BABA_TEMPLATES)),
                rng.choice(orders),
                io,
                s,
                c,
                rng.choice(PLACES),
                rng.choice(OBJECTS),
            )

        def build(key):
            t, this_order, io, s, c, place, obj = key
            pieces = template_pieces(BABA_TEMPLATES[t], this_order)
            words = {
                "[IO]": io,
                "[S1]": s,
                "[S2]": s,
                "[PLACE]": " " + place,
                "[OBJECT]": " " + obj,
            }
            corrupt_words = {**words, "[S2]": c if corruption == "abc" else io}
            slot = {piece.strip(): k for k, piece in enumerate(pieces) if piece.startswith(" [")}
            return segment_pair(
                tokenizer,
                fill(pieces, words),
                fill(pieces, corrupt_words),
                slots={"io": slot["[IO]"], "s1": slot["[S1]"], "s2": slot["[S2]"]},
                changed=[slot["[S2]"]],
                correct=[names[io]],
                incorrect=[names[s]],
            )

        examples = sample_examples(
            draw,
            build,
            n,
            seed,
            task=self.name,
            tokenizer=tokenizer,
            hint="more of the IOI names are single tokens",
        )
        meta = {"corruption": corruption, "order": order, "tokenizer": tokenizer_label(tokenizer)}
        return assemble(examples, tokenizer, metric="logit_diff", task=self.name, meta=meta)


IOI = register(IOITask())
