"""Gendered pronoun, greater-than and subject-verb agreement on the real tokenizers."""

from __future__ import annotations

import re

import pytest

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.gendered_pronoun import FEMALE_NAMES, MALE_NAMES
from mechcirc.tasks.subject_verb_agreement import NOUNS

from .pair_checks import assert_valid_pairs, rows


def test_gendered_pronoun_500_pairs(real_tok):
    pairs = tasks.get("gendered-pronoun").generate(real_tok, n=500, seed=0)
    assert pairs.metric == "logit_diff"
    assert_valid_pairs(pairs, real_tok, changed="name", n=500)
    he, she = (real_tok.encode(w, add_special_tokens=False) for w in (" he", " she"))
    assert len(he) == len(she) == 1
    genders = set()
    for clean, corrupted, correct, incorrect, pos in rows(pairs):
        text = real_tok.decode(clean[1:])
        assert text.endswith(", isn't") and real_tok.decode(clean[1:2]) in ("So", "Well")
        name = real_tok.decode([clean[pos["name"]]]).strip()
        other = real_tok.decode([corrupted[pos["name"]]]).strip()
        gender = "female" if name in FEMALE_NAMES else "male"
        assert name in (FEMALE_NAMES if gender == "female" else MALE_NAMES)
        assert other in (MALE_NAMES if gender == "female" else FEMALE_NAMES)
        assert (correct, incorrect) == ((she, he) if gender == "female" else (he, she))
        genders.add(gender)
    assert genders == {"female", "male"}


def test_greater_than_500_pairs(real_tok):
    pairs = tasks.get("greater-than").generate(real_tok, n=500, seed=0)
    assert pairs.metric == "prob_diff"
    assert_valid_pairs(pairs, real_tok, changed="yy", n=500)
    two_digit = [real_tok.encode(f"{yy:02d}", add_special_tokens=False) for yy in range(100)]
    assert all(len(ids) == 1 for ids in two_digit)
    two_digit = [ids[0] for ids in two_digit]
    for clean, corrupted, correct, incorrect, pos in rows(pairs):
        text = real_tok.decode(clean[1:])
        century, yy = text.split("from the year ")[1][:2], int(text.split("from the year ")[1][2:4])
        assert text.endswith(f"to the year {century}") and 11 <= int(century) <= 17
        assert 2 <= yy <= 98 and clean[pos["yy"]] == two_digit[yy]
        assert real_tok.decode(corrupted[1:]).split("from the year ")[1][:4] == f"{century}01"
        assert correct == two_digit[yy + 1 :] and incorrect == two_digit[: yy + 1]


def test_subject_verb_agreement_500_pairs(real_tok):
    pairs = tasks.get("subject-verb-agreement").generate(real_tok, n=500, seed=0)
    assert pairs.metric == "prob_diff"  # the paper's metric
    # a subject relative clause's verb flips with the subject; every other pair differs at
    # the subject only
    one_change = ((pairs.clean != pairs.corrupted).sum(-1) == 1).nonzero().flatten()
    assert 300 < len(one_change) < 500
    assert_valid_pairs(pairs.select(one_change), real_tok, changed="subject", n=len(one_change))
    singular = {" " + s for s, _ in NOUNS}
    plural = {" " + p for _, p in NOUNS}
    for clean, corrupted, correct, _incorrect, pos in rows(pairs):
        subject = real_tok.decode([clean[pos["subject"]]])
        flipped = real_tok.decode([corrupted[pos["subject"]]])
        assert (subject in singular) == (flipped in plural) and subject != flipped
        verbs = real_tok.decode(correct).split()
        assert ("is" in verbs) == (subject in singular) and ("are" in verbs) == (subject in plural)


# structure -> a clean prompt's shape (the agreeing noun is the last word before the cut
# except in the clause structures)
SHAPES = {
    "simple": r"^The \w+$",
    "sentential": r"^The \w+ said the \w+$",
    "prepositional": r"^The \w+ (near|behind|beside|with|next to|across from) the \w+$",
    "relative": r"^The \w+ that the \w+ \w+$",
    "subject_relative": r"^The \w+ that \w+ the \w+$",
    "within_relative": r"^The \w+ that the \w+$",
}


@pytest.mark.parametrize("structure", list(SHAPES))
def test_subject_verb_agreement_constructions(pythia_tok, structure):
    pairs = tasks.get("subject-verb-agreement").generate(
        pythia_tok, n=20, seed=1, structure=structure
    )
    plural = {" " + p for _, p in NOUNS}
    for clean, corrupted, correct, _incorrect, pos in rows(pairs):
        text = pythia_tok.decode(clean[1:])  # after BOS
        assert re.match(SHAPES[structure], text.strip()), text
        noun = pythia_tok.decode([clean[pos["subject"]]])
        verbs = pythia_tok.decode(correct).split()
        assert ("are" in verbs) == (noun in plural)  # the verb agrees with the marked noun
        changed = [i for i, (a, b) in enumerate(zip(clean, corrupted, strict=True)) if a != b]
        # the corruption flips the noun (and, in a subject relative clause, its verb too)
        assert changed[0] == pos["subject"] and len(changed) == (
            2 if structure == "subject_relative" else 1
        )


def test_subject_verb_agreement_keeps_the_logit_difference_option(pythia_tok):
    pairs = tasks.get("subject-verb-agreement").generate(pythia_tok, n=4, metric="logit_diff")
    assert pairs.metric == "logit_diff" and pairs.meta["metric"] == "logit_diff"
    with pytest.raises(UsageError, match="metric must be one of"):
        tasks.get("subject-verb-agreement").generate(pythia_tok, n=4, metric="accuracy")


def test_a_list_of_structures_draws_only_those(pythia_tok):
    pairs = tasks.get("subject-verb-agreement").generate(
        pythia_tok, n=60, seed=2, structure="simple,relative"
    )
    shapes = {"simple": SHAPES["simple"], "relative": SHAPES["relative"]}
    texts = [pythia_tok.decode(clean[1:]).strip() for clean, *_ in rows(pairs)]  # after BOS
    kinds = [[kind for kind, shape in shapes.items() if re.match(shape, text)] for text in texts]
    assert all(len(found) == 1 for found in kinds), texts
    assert {found[0] for found in kinds} == {"simple", "relative"}


def test_too_few_examples_names_the_limit(pythia_tok):
    # "The author" / "The authors" only: 2 forms x the single-token nouns.
    with pytest.raises(UsageError, match=r"made only \d+ distinct valid examples.*--n \d+"):
        tasks.get("subject-verb-agreement").generate(pythia_tok, n=500, structure="simple")


def test_tokenizer_without_word_tokens_is_refused(char_tok):
    for name in ("gendered-pronoun", "greater-than", "subject-verb-agreement"):
        with pytest.raises(UsageError, match="single token|one token"):
            tasks.get(name).generate(char_tok, n=5)


def test_unknown_task_and_option(pythia_tok):
    with pytest.raises(UsageError, match="unknown task 'iio'.*Did you mean ioi"):
        tasks.get("iio")
    for bad in ("nested", "simple,nested", "simple,simple"):
        with pytest.raises(UsageError, match="structure must be 'all' or distinct names"):
            tasks.get("subject-verb-agreement").generate(pythia_tok, n=5, structure=bad)
    with pytest.raises(UsageError, match="not prompt pairs"):
        tasks.load_pairs("modular-addition", pythia_tok, n=5)
