"""Real tokenizers and a shared validity check for the prompt-pair task tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pythia_tok():
    from mechcirc.models.tokenizers import pythia_tokenizer

    return pythia_tokenizer()


@pytest.fixture(scope="session")
def gpt2_tok():
    from mechcirc.models.tokenizers import saved_tokenizer

    return saved_tokenizer("gpt2.tokenizer.json")


@pytest.fixture(scope="session", params=["pythia", "gpt2"])
def real_tok(request, pythia_tok, gpt2_tok):
    """Each real tokenizer in turn."""
    return {"pythia": pythia_tok, "gpt2": gpt2_tok}[request.param]


@pytest.fixture(scope="session")
def char_tok():
    """A byte-level tokenizer without merges: every word is several tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, **{ch: i + 1 for i, ch in enumerate(sorted(alphabet))}}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )


@pytest.fixture(scope="session")
def metaspace_tok():
    """A SentencePiece-style (Llama-family) tokenizer: '▁' marks spaces and a prefix space is
    added to the start of every text, so a word alone tokenizes differently than mid-sentence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from mechcirc.tasks import gendered_pronoun as gp
    from mechcirc.tasks import subject_verb_agreement as sva
    from mechcirc.tasks.ioi import BABA_TEMPLATES, NAMES, OBJECTS, PLACES

    words = [*NAMES, *PLACES, *OBJECTS, *gp.MALE_NAMES, *gp.FEMALE_NAMES, *gp.ADJECTIVES]
    words += [*gp.NOUNS, "So", "isn't", "he", "she", "The", "that", "the", *sva.PREPOSITIONS]
    words += [w for pair in (*sva.NOUNS, *sva.VERBS, *sva.CLAUSE_VERBS) for w in pair]
    corpus = [*BABA_TEMPLATES, *words, " ".join(words)] * 3
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<unk>", "<s>", "</s>"])
    core.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
