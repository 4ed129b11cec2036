"""The micro-Pythia's corpus, training model and bit-exact retraining of the shipped weights."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
import torch

from mechcirc import tasks
from mechcirc.analyses.micro_pythia import MicroPythiaConfig, build_corpus, compact_model
from mechcirc.analyses.micro_pythia.corpus import INDUCTION, answered_rows, sample_text
from mechcirc.analyses.micro_pythia.model import causal_lm_logits
from mechcirc.cli import main
from mechcirc.errors import UsageError
from mechcirc.measures.corpus import default_text_path
from mechcirc.models.micro_spec import TEXT_FILE, load_spec, shipped_folder
from mechcirc.models.tokenizers import pythia_tokenizer
from mechcirc.training import IGNORE_INDEX, TrainConfig, Trainer

from .conftest import SPEC

SMALL = MicroPythiaConfig(
    mix=(("ioi", 40), ("greater-than", 20), ("subject-verb-agreement", 20), ("induction", 30)),
    n_test=10,
)


@pytest.fixture(scope="module")
def small_corpus():
    return build_corpus(SMALL, pythia_tokenizer())


def test_default_recipe_is_the_one_the_shipped_weights_record():
    recipe = {k: v for k, v in SPEC.training.items() if k != "tokens_per_step"}
    assert json.loads(json.dumps(MicroPythiaConfig().to_dict())) == recipe
    assert MicroPythiaConfig.from_dict(recipe) == MicroPythiaConfig()
    assert SPEC.steps == MicroPythiaConfig().steps


def test_task_rows_are_prompts_followed_by_a_correct_answer():
    pairs = tasks.load_pairs("greater-than", pythia_tokenizer(), n=20, seed=3)
    rows = answered_rows(pairs, random.Random(0))
    for i, row in enumerate(rows):
        prompt = pairs.clean[i][pairs.attention_mask[i].bool()].tolist()
        assert row[:-1] == prompt and row[-1] in pairs.correct[i].tolist()


def test_corpus_rows_vocabulary_and_labels(small_corpus):
    corpus = small_corpus
    bos = pythia_tokenizer().bos_token_id
    assert list(corpus.token_ids) == sorted(set(corpus.token_ids)) and bos in corpus.token_ids
    assert len(corpus.rows) == 110 and corpus.parts.count(INDUCTION) == 30
    for row, part in zip(corpus.rows, corpus.parts, strict=True):
        assert row[0] == bos and set(row) <= set(corpus.token_ids)
        if part == INDUCTION:
            half = (len(row) - 1) // 2
            assert row[1 : 1 + half] == row[1 + half :] and 5 <= half <= 20
    split = corpus.split
    assert split.n_test == 10 and split.n_train == 100
    inputs = torch.cat([split.test_inputs, split.train_inputs])
    labels = torch.cat([split.test_labels, split.train_labels])
    for i, row in enumerate(corpus.rows):
        ids = [corpus.token_ids.index(t) for t in row]
        assert inputs[i, : len(row)].tolist() == ids
        assert labels[i, : len(row) - 1].tolist() == ids[1:]
        assert (labels[i, len(row) - 1 :] == IGNORE_INDEX).all()


def test_constant_dimension_survives_training(small_corpus):
    model = compact_model(SMALL, len(small_corpus.token_ids))
    config = TrainConfig(steps=3, lr=1e-2, optimizer="adam", batch_size=8, progress=False)
    Trainer(model, small_corpus.split, config, logits_fn=causal_lm_logits).fit()
    norm = model.gpt_neox.final_layer_norm
    r = SMALL.reserved_dim
    assert norm.weight[r] == 0 and norm.bias[r] == 1
    assert (norm.weight != 1).sum() > 1  # the other entries did train


def test_config_rejects_a_schedule_without_step0():
    with pytest.raises(Exception, match="start at 0"):
        MicroPythiaConfig(steps=(10, 20))


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_checkpoints_bit_for_bit(tmp_path, capsys):
    until = SPEC.steps[2]
    code = main(["models", "train-micro", "--out", str(tmp_path), "--until", str(until)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bit-identical to the shipped weights" in out
    written = load_spec(tmp_path)
    assert written.steps == SPEC.steps[:3] and written.token_ids == SPEC.token_ids
    assert (tmp_path / "metrics.parquet").is_file()
    assert (tmp_path / TEXT_FILE).read_text() == (shipped_folder() / TEXT_FILE).read_text()


def test_shipped_text_is_the_held_out_sample_in_the_models_vocabulary():
    tokenizer = pythia_tokenizer()
    text = (shipped_folder() / TEXT_FILE).read_text("utf-8")
    assert text == sample_text(MicroPythiaConfig(), tokenizer)
    ids = tokenizer.encode(text)
    assert set(ids) <= set(SPEC.token_ids) and len(ids) >= 61 * 17  # CSPA's default sequences
    rows = text.split(tokenizer.bos_token)[1:]
    config = MicroPythiaConfig()
    expected = sum(n // 100 for part, n in config.mix if part != INDUCTION)
    assert 0.9 * expected <= len(rows) <= expected  # rows that would not round-trip dropped
    # Held out: drawn with another seed, so most rows differ from the training corpus's rows
    # (short agreement sentences can coincide by chance).
    training = {tokenizer.decode(row) for row in build_corpus(SMALL, tokenizer).rows}
    assert sum(tokenizer.bos_token + row in training for row in rows) < 0.1 * len(rows)


def test_sample_text_refuses_a_per_part_that_leaves_no_rows():
    with pytest.raises(UsageError, match="per_part=100000 leaves no rows"):
        sample_text(MicroPythiaConfig(), pythia_tokenizer(), per_part=100_000)


def test_natural_text_measures_default_to_the_micro_pythias_own_text():
    def loaded(model_id: str) -> SimpleNamespace:
        return SimpleNamespace(mechcirc_source=SimpleNamespace(model_id=model_id))

    assert default_text_path(loaded("mechcirc/micro-pythia")) == shipped_folder() / TEXT_FILE
    assert default_text_path(loaded("EleutherAI/pythia-160m")) is None
    assert default_text_path(SimpleNamespace()) is None  # not loaded by load_model
