"""Gendered pronoun, greater-than and subject-verb agreement on the real tokenizers."""

from __future__ import annotations

import pytest
from pair_checks import assert_valid_pairs, rows

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.gendered_pronoun import FEMALE_NAMES, MALE_NAMES
from mechcirc.tasks.subject_verb_agreement import NOUNS


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
    assert_valid_pairs(pairs, real_tok, changed="subject", n=500)
    singular = {" " + s for s, _ in NOUNS}
    plural = {" " + p for _, p in NOUNS}
    structures = set()
    for clean, corrupted, correct, incorrect, pos in rows(pairs):
        subject = real_tok.decode([clean[pos["subject"]]])
        flipped = real_tok.decode([corrupted[pos["subject"]]])
        assert (subject in singular) == (flipped in plural) and subject != flipped
        verbs = real_tok.decode(correct).split()
        assert ("is" in verbs) == (subject in singular) and ("are" in verbs) == (subject in plural)
        assert len(correct) == len(incorrect) >= 3
        text = real_tok.decode(clean[1:])
        simple = "simple" if pos["end"] == 2 else "prep"
        structures.add("relative" if " that the " in text else simple)
    assert structures == {"relative", "simple", "prep"}


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
    with pytest.raises(UsageError, match="structure must be one of"):
        tasks.get("subject-verb-agreement").generate(pythia_tok, n=5, structure="nested")
    with pytest.raises(UsageError, match="not prompt pairs"):
        tasks.load_pairs("modular-addition", pythia_tok, n=5)
