"""IOI: template ground truth, name counts, corruptions, orders, tokenizers, errors."""

from __future__ import annotations

import re

import pytest
import torch

from mechcirc import tasks
from mechcirc.errors import UsageError
from mechcirc.tasks.ioi import BABA_TEMPLATES, OBJECTS, PLACES, template_pieces

from .pair_checks import assert_valid_pairs, rows


def _template_regexes(order: str) -> list[re.Pattern]:
    """Each filled template as a regex, with the IO answer appended (ground truth for decoding)."""
    patterns = []
    for template in BABA_TEMPLATES:
        if order == "abba":
            template = template.replace("[B] and [A]", "[A] and [B]", 1)
        text = re.escape(template)
        text = text.replace(r"\[PLACE\]", f"(?:{'|'.join(PLACES)})")
        text = text.replace(r"\[OBJECT\]", f"(?:{'|'.join(OBJECTS)})")
        text = text.replace(r"\[A\]", "(?P<io>[A-Z][a-z]+)", 1).replace(r"\[A\]", "(?P=io)")
        text = text.replace(r"\[B\]", "(?P<s>[A-Z][a-z]+)", 1).replace(r"\[B\]", "(?P=s)")
        patterns.append(re.compile(text))
    return patterns


def _decode(tokenizer, ids):
    return tokenizer.decode(ids[1:])


@pytest.mark.parametrize("corruption", ["abc", "s2-io"])
def test_ioi_500_valid_pairs_with_real_tokenizers(real_tok, corruption):
    pairs = tasks.get("ioi").generate(real_tok, n=500, seed=0, corruption=corruption)
    assert pairs.metric == "logit_diff" and pairs.task == "ioi"
    assert set(pairs.positions) == {"io", "s1", "s2", "end"}
    assert_valid_pairs(pairs, real_tok, changed="s2", n=500)
    for clean, corrupted, (io,), (s,), pos in rows(pairs):
        assert clean.count(io) == 1 and clean.count(s) == 2  # IO once, S twice
        assert clean[pos["io"]] == io and clean[pos["s1"]] == clean[pos["s2"]] == s
        assert len(real_tok.encode(real_tok.decode([io]), add_special_tokens=False)) == 1
        if corruption == "abc":  # S2 -> a third name: every name once
            third = corrupted[pos["s2"]]
            assert third not in (io, s) and corrupted.count(third) == 1
            assert corrupted.count(s) == 1 and corrupted.count(io) == 1
        else:  # S2 -> IO: IO twice, S once
            assert corrupted[pos["s2"]] == io and corrupted.count(io) == 2


def test_ioi_decodes_to_the_templates(pythia_tok):
    pairs = tasks.get("ioi").generate(pythia_tok, n=200, seed=3)
    seen_orders = set()
    for clean, _, (io,), (s,), pos in rows(pairs):
        text = _decode(pythia_tok, clean) + pythia_tok.decode([io])
        order = "abba" if pos["io"] < pos["s1"] else "baba"
        seen_orders.add(order)
        matches = [m for p in _template_regexes(order) if (m := p.fullmatch(text))]
        assert matches, text
        assert " " + matches[0]["io"] == pythia_tok.decode([io])
        assert " " + matches[0]["s"] == pythia_tok.decode([s])
    assert seen_orders == {"abba", "baba"}


@pytest.mark.parametrize("order", ["abba", "baba"])
def test_ioi_single_order(gpt2_tok, order):
    pairs = tasks.get("ioi").generate(gpt2_tok, n=50, seed=1, order=order)
    io_first = pairs.positions["io"] < pairs.positions["s1"]
    assert bool(io_first.all()) if order == "abba" else not bool(io_first.any())


def test_ioi_is_seeded(pythia_tok):
    ioi = tasks.get("ioi")
    a, b = ioi.generate(pythia_tok, 40, seed=7), ioi.generate(pythia_tok, 40, seed=7)
    c = ioi.generate(pythia_tok, 40, seed=8)
    assert torch.equal(a.clean, b.clean) and torch.equal(a.corrupted, b.corrupted)
    assert not torch.equal(a.clean[:, :10], c.clean[:, :10])


def test_ioi_sentencepiece_style_tokenizer(metaspace_tok):
    """Llama-family leading-space handling: names are found as the tokens used mid-sentence."""
    pairs = tasks.get("ioi").generate(metaspace_tok, n=100, seed=0)
    assert_valid_pairs(pairs, metaspace_tok, changed="s2", n=100)
    for clean, _, (io,), (s,), pos in rows(pairs):
        assert clean[pos["io"]] == io and clean.count(s) == 2
        assert metaspace_tok.convert_ids_to_tokens(io).startswith("▁")


def test_template_pieces_mark_the_slots():
    pieces = template_pieces(BABA_TEMPLATES[0], "baba")
    assert "".join(pieces) == "Then, [S1] and [IO] went to the [PLACE]. [S2] gave a [OBJECT] to"


def test_ioi_errors(char_tok, pythia_tok):
    ioi = tasks.get("ioi")
    with pytest.raises(UsageError, match="single tokens"):
        ioi.generate(char_tok, n=10)
    with pytest.raises(UsageError, match="corruption must be one of"):
        ioi.generate(pythia_tok, n=10, corruption="abb")
    with pytest.raises(UsageError, match="order must be one of"):
        ioi.generate(pythia_tok, n=10, order="aabb")
    with pytest.raises(UsageError, match="n must be a positive"):
        ioi.generate(pythia_tok, n=0)
