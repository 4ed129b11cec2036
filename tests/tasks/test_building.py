"""Tokenization helpers and the pair builder: boundaries, single tokens, errors."""

from __future__ import annotations

import pytest

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.building import Example, assemble, sample_examples, segment_pair
from mechcirc.tasks.tokens import bos_ids, continuation, tokenize_segments, word_token


def test_tokenize_segments_starts_and_merges(gpt2_tok):
    ids, starts = tokenize_segments(gpt2_tok, ["Then,", " Mary", " and", " John"])
    assert ids == bos_ids(gpt2_tok) + gpt2_tok.encode("Then, Mary and John")
    assert [gpt2_tok.decode(ids[s]) for s in starts[1:]] == [" Mary", " and", " John"]
    assert tokenize_segments(gpt2_tok, ["The war", "s ended"]) is None  # " wars" is one token
    assert tokenize_segments(gpt2_tok, ["The", "", " war"]) is None  # empty segment


def test_words_are_measured_in_context(metaspace_tok, pythia_tok):
    # SentencePiece-style: "Mary" alone gets a prefix space, so context decides the token.
    in_sentence = metaspace_tok.encode("Then, Mary", add_special_tokens=False)[-1]
    assert word_token(metaspace_tok, " Mary") == in_sentence
    assert word_token(pythia_tok, " Marianneopolis") is None
    assert continuation(pythia_tok, "The war", "s") is None


def test_segment_pair_rejects_invalid_pairs(pythia_tok):
    def pair(clean, corrupted, changed=(1,)):
        return segment_pair(
            pythia_tok, clean, corrupted, slots={"x": 1}, changed=changed, correct=[1],
            incorrect=[2],
        )  # fmt: skip

    assert pair(["When", " Mary", " left"], ["When", " John", " left"]) is not None
    assert pair(["When", " Mary", " left"], ["When", " Marianneopolis", " left"]) is None
    assert pair(["When", " Mary", " left"], ["When", " John", " came"]) is None  # 2 changes
    assert pair(["When", " Mary", " left"], ["When", " Mary", " left"]) is None  # no change


def test_assemble_refuses_unequal_lengths():
    example = Example((0, 5, 6), (0, 5), (1,), (2,), {"end": 2})
    with pytest.raises(UsageError, match="clean has 3 tokens but corrupted has 2"):
        assemble([example], metric="logit_diff", task="demo")


def test_assemble_pads_right_with_minus_one_answers():
    short = Example((0, 5), (0, 6), (1,), (2, 3), {"end": 1})
    long = Example((0, 5, 7), (0, 6, 7), (1, 4), (2,), {"end": 2})
    pairs = assemble([short, long], metric="logit_diff", task="demo", padding_id=9)
    assert pairs.clean.tolist() == [[0, 5, 9], [0, 5, 7]]
    assert pairs.attention_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert pairs.correct.tolist() == [[1, -1], [1, 4]]
    assert pairs.incorrect.tolist() == [[2, 3], [2, -1]]
    assert pairs.answer_pos.tolist() == pairs.positions["end"].tolist() == [1, 2]


def test_sample_examples_reports_the_reachable_count(pythia_tok):
    def build(key):
        return Example((0, key), (0, key + 100), (1,), (2,), {"end": 1})

    found = sample_examples(lambda rng: rng.randrange(3), build, 3, 0, task="t",
                            tokenizer=pythia_tok, hint="x")  # fmt: skip
    assert sorted(ex.clean[1] for ex in found) == [0, 1, 2]
    with pytest.raises(UsageError, match=r"made only 3 distinct valid examples of the 4.*--n 3"):
        sample_examples(lambda rng: rng.randrange(3), build, 4, 0, task="t",
                        tokenizer=pythia_tok, hint="x")  # fmt: skip


@pytest.mark.parametrize("name", ["gendered-pronoun", "subject-verb-agreement"])
def test_sentencepiece_style_tokenizer_other_tasks(metaspace_tok, name):
    pairs = tasks.get(name).generate(metaspace_tok, n=50, seed=0)
    assert len(pairs) == 50 and int(pairs.clean[0, 0]) == metaspace_tok.bos_token_id
