"""Trainer: exact resume from the one checkpoint format, metrics log, mini-batches, errors."""

from __future__ import annotations

import math

import pytest
import torch

from mechcirc.checkpoints import FORMAT, load_checkpoint
from mechcirc.errors import UsageError
from mechcirc.parameters import trainable_parameters
from mechcirc.tasks import MODULAR_ADDITION, SPARSE_MODULAR_ADDITION
from mechcirc.tensorfiles import read_metadata
from mechcirc.toys import (
    CrossAttentionConfig,
    HookedCrossAttention,
    grokking_model,
    last_position_logits,
)
from mechcirc.training import (
    CHECKPOINT_FILE,
    IGNORE_INDEX,
    TrainConfig,
    Trainer,
    learning_rate,
    parameter_norm,
    resume_problem,
)

DATA = MODULAR_ADDITION.build(p=7, train_fraction=0.6, seed=0)


def grok_trainer(config: TrainConfig, checkpoint=None) -> Trainer:
    return Trainer(
        grokking_model(7, seed=0),
        DATA,
        config,
        logits_fn=last_position_logits,
        checkpoint=checkpoint,
    )


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    config = TrainConfig(steps=12, eval_every=4, weight_decay=1.0, batch_size=8, progress=False)
    straight = grok_trainer(config)
    straight.fit()
    first = grok_trainer(config, checkpoint=tmp_path / CHECKPOINT_FILE)
    first.fit(8)
    resumed = grok_trainer(config)
    resumed.load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert resumed.step == 8
    resumed.fit()
    for a, b in zip(straight.params, resumed.params, strict=True):
        assert torch.equal(a, b)
    assert resumed.metrics().equals(straight.metrics())


def test_checkpoint_is_the_one_format_with_weights_optimizer_and_metrics(tmp_path):
    path = tmp_path / CHECKPOINT_FILE
    trainer = grok_trainer(TrainConfig(steps=3, eval_every=1, progress=False), checkpoint=path)
    metrics = trainer.fit()
    assert read_metadata(path)["format"] == FORMAT
    checkpoint = load_checkpoint(path)
    assert set(checkpoint.model) == {name for name, _ in trainer.module.named_parameters()}
    assert any("exp_avg_sq" in slots for slots in checkpoint.optimizer["state"].values())
    assert checkpoint.step == 3 and checkpoint.metadata["data"] == DATA.meta
    assert [row["step"] for row in checkpoint.metadata["metrics"]] == [0, 1, 2, 3]
    assert list(metrics["step"]) == [0, 1, 2, 3]
    # Written to a temporary file and renamed into place: nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]


def test_metrics_log_accuracy_and_norm_that_match_a_recomputation():
    trainer = grok_trainer(TrainConfig(steps=2, eval_every=2, progress=False))
    row = trainer.fit().iloc[-1]
    with torch.no_grad():
        logits = trainer.model(DATA.test_inputs)[:, -1]  # the bridge's own full forward
    assert row["test_acc"] == pytest.approx(
        float((logits.argmax(-1) == DATA.test_labels).float().mean())
    )
    norm = torch.sqrt(sum(p.detach().pow(2).sum() for p in trainer.module.parameters()))
    assert row["param_norm"] == pytest.approx(float(norm), rel=1e-5)
    assert parameter_norm(trainer.module) == pytest.approx(float(norm), rel=1e-5)


def test_stop_when_ends_training_after_an_evaluation():
    trainer = grok_trainer(TrainConfig(steps=50, eval_every=5, progress=False))
    metrics = trainer.fit(stop_when=lambda rows: rows[-1]["step"] >= 15)
    assert metrics["step"].tolist() == [0, 5, 10, 15] and trainer.step == 15


def test_full_batch_training_fits_a_small_task():
    data = SPARSE_MODULAR_ADDITION.build(p=2, seq_len=4, k=2, n_train=12, n_test=4, d_vocab=2)
    model = HookedCrossAttention(CrossAttentionConfig(d_vocab=2, n_ctx=4, d_model=8, seed=0))
    metrics = Trainer(
        model,
        data,
        TrainConfig(steps=300, lr=1e-2, optimizer="adam", eval_every=50, progress=False),
    ).fit()
    assert metrics["train_loss"].iloc[-1] < 0.5 * metrics["train_loss"].iloc[0]
    assert metrics["train_acc"].iloc[-1] == 1.0


def test_mini_batches_partition_each_epoch():
    trainer = grok_trainer(TrainConfig(steps=1, batch_size=5, seed=3, progress=False))
    per_epoch = DATA.n_train // 5
    seen = torch.cat([trainer.batch(step)[0] for step in range(per_epoch)])
    assert len({tuple(r) for r in seen.tolist()}) == per_epoch * 5
    assert not torch.equal(trainer.batch(0)[0], trainer.batch(per_epoch)[0])  # reshuffled


def test_trainable_parameters_deduplicates_bridge_views():
    bridge = grokking_model(7, seed=0)
    params = trainable_parameters(bridge)
    assert len({id(p) for p in params}) == len(params)
    assert sum(p.numel() for p in params) == sum(
        p.numel() for p in bridge.original_model.parameters()
    )


def test_load_checkpoint_errors(tmp_path):
    path = tmp_path / CHECKPOINT_FILE
    trainer = grok_trainer(TrainConfig(steps=1, progress=False), checkpoint=path)
    with pytest.raises(UsageError, match="no checkpoint"):
        trainer.load_checkpoint(tmp_path / "missing" / CHECKPOINT_FILE)
    trainer.fit()
    narrower = Trainer(
        grokking_model(7, seed=0, d_mlp=256), DATA, TrainConfig(), logits_fn=last_position_logits
    )
    with pytest.raises(UsageError, match="shape"):
        narrower.load_checkpoint(path)
    other_data = MODULAR_ADDITION.build(p=7, train_fraction=0.3, seed=0)
    assert "same data" in resume_problem(path, other_data)
    assert resume_problem(path, DATA) is None
    elsewhere = Trainer(
        grokking_model(7, seed=0), other_data, TrainConfig(), logits_fn=last_position_logits
    )
    with pytest.raises(UsageError, match="same data"):
        elsewhere.load_checkpoint(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps": -1},
        {"eval_every": 0},
        {"optimizer": "sgd"},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": math.nan},
        {"lr": math.inf},
        {"weight_decay": math.nan},
        {"betas": (0.9, 1.0)},
        {"batch_size": 0},
        {"warmup_steps": -1},
        {"decay": "linear"},
        {"min_lr_ratio": 1.5},
        {"eval_limit": 0},
        {"eval_batch_size": 0},
    ],
)
def test_train_config_validation(kwargs):
    with pytest.raises(UsageError):
        TrainConfig(**kwargs)


def test_train_config_round_trips_through_json():
    config = TrainConfig(steps=5, betas=(0.9, 0.98), batch_size=4)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_float64_loss_resolves_what_float32_rounds_away():
    """A memorised batch: the correct logit 40 above the rest. In float32 the loss rounds to 0
    (and its gradient vanishes); in float64 it is (P - 1) e^-40 as computed by hand."""
    logits = torch.zeros(4, 7)
    labels = torch.tensor([0, 1, 2, 3])
    logits[torch.arange(4), labels] = 40.0
    assert float(TrainConfig().loss(logits, labels)) == 0.0
    expected = math.log1p(6 * math.exp(-40.0))
    assert float(TrainConfig(loss_dtype="float64").loss(logits, labels)) == pytest.approx(expected)


class _BigramLM(torch.nn.Module):
    """Next-token logits from the current token only: ``[batch, seq, vocab]``."""

    def __init__(self, vocab: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(vocab, vocab)

    def forward(self, tokens):
        return self.table(tokens)


def _sequence_data(n: int = 12, seq: int = 6, vocab: int = 5):
    from mechcirc.tasks import TrainTestSplit

    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(vocab, (n, seq), generator=gen)
    labels = inputs.roll(-1, dims=1)
    labels[:, -1] = IGNORE_INDEX
    labels[: n // 2, -3:] = IGNORE_INDEX  # right padding
    half = n // 2
    return TrainTestSplit(
        inputs[:half], labels[:half], inputs[half:], labels[half:], vocab, vocab, {"toy": 1}
    )


def test_token_level_labels_count_only_positions_that_are_not_ignored():
    data = _sequence_data()
    trainer = Trainer(_BigramLM(), data, TrainConfig(steps=0, progress=False))
    row = trainer.evaluate()
    with torch.no_grad():
        logits = trainer.model(data.train_inputs)
    keep = data.train_labels != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[keep], data.train_labels[keep])
    assert row["train_loss"] == pytest.approx(float(expected))
    correct = (logits.argmax(-1) == data.train_labels)[keep].float().mean()
    assert row["train_acc"] == pytest.approx(float(correct))
    chunked = Trainer(
        _BigramLM(), data, TrainConfig(steps=0, progress=False, eval_batch_size=4, eval_limit=5)
    )
    keep5 = keep[:5]
    limited = torch.nn.functional.cross_entropy(logits[:5][keep5], data.train_labels[:5][keep5])
    assert chunked.evaluate()["train_loss"] == pytest.approx(float(limited), rel=1e-6)


def test_language_model_trains_on_token_labels():
    data = _sequence_data()
    config = TrainConfig(steps=200, lr=0.1, optimizer="adam", progress=False, eval_every=200)
    metrics = Trainer(_BigramLM(), data, config).fit()
    assert metrics["train_loss"].iloc[-1] < 0.7 * metrics["train_loss"].iloc[0]


def test_learning_rate_warms_up_then_follows_a_cosine_to_its_floor():
    config = TrainConfig(steps=110, lr=1.0, warmup_steps=10, decay="cosine", min_lr_ratio=0.1)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 10) == pytest.approx(1.0)
    assert learning_rate(config, 60) == pytest.approx(0.55)
    assert learning_rate(config, 110) == pytest.approx(0.1)
    assert learning_rate(TrainConfig(lr=0.5), 1000) == 0.5
    trainer = grok_trainer(
        TrainConfig(steps=3, lr=1.0, warmup_steps=4, progress=False), checkpoint=None
    )
    trainer.fit()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.75)
