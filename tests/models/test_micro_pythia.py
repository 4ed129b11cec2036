"""The shipped micro-Pythia: spec, size, schedule, revision checks and vocabulary expansion."""

from __future__ import annotations

import pytest
import torch

from mechcirc.errors import ModelLoadError
from mechcirc.models.micro_pythia import (
    INPUT_EMBEDDING,
    UNEMBEDDING,
    expand_state_dict,
    load_compact,
    micro_pythia_model,
)
from mechcirc.models.micro_spec import (
    CHECKPOINTS_FILE,
    MICRO_PYTHIA_ID,
    SPEC_FILE,
    load_spec,
    shipped_folder,
)
from mechcirc.models.names import SHORT_NAMES, known_steps, normalize_revision
from mechcirc.models.pythia_shape import PYTHIA_VOCAB

SPEC = load_spec()


def test_short_name_and_known_steps():
    assert SHORT_NAMES["micro-pythia"] == MICRO_PYTHIA_ID
    assert known_steps(MICRO_PYTHIA_ID) == SPEC.steps
    assert known_steps("EleutherAI/pythia-70m")[-1] == 143000
    assert known_steps("openai-community/gpt2") is None


def test_schedule_is_step0_then_log_spaced_then_linear():
    steps = SPEC.steps
    assert steps[0] == 0 and len(steps) >= 12
    gaps = [b - a for a, b in zip(steps[1:], steps[2:], strict=False)]
    spacing = gaps[-1]
    first_linear = gaps.index(spacing)
    assert all(gap == spacing for gap in gaps[first_linear:])
    early = steps[1 : first_linear + 2]
    assert len(early) >= 3 and all(b == 2 * a for a, b in zip(early, early[1:], strict=False))


def test_shipped_weights_fit_in_20_mb_and_match_their_hash():
    from mechcirc.models.micro_pythia import file_sha256

    folder = shipped_folder()
    size = (folder / CHECKPOINTS_FILE).stat().st_size + (folder / SPEC_FILE).stat().st_size
    assert size <= 20_000_000
    assert file_sha256(folder / CHECKPOINTS_FILE) == SPEC.checkpoints_sha256


@pytest.mark.parametrize("step", [SPEC.steps[0], SPEC.steps[-1]])
def test_revisions_of_micro_steps_normalise(step):
    assert normalize_revision(step, MICRO_PYTHIA_ID) == f"step{step}"
    assert normalize_revision(f"step{step}", "mechcirc/micro-pythia") == f"step{step}"


def test_step_between_checkpoints_is_refused_naming_the_schedule():
    missing = SPEC.steps[-1] - 1
    with pytest.raises(ModelLoadError, match=rf"no checkpoint at step {missing}.*0, "):
        normalize_revision(missing, MICRO_PYTHIA_ID)


def test_expansion_puts_rows_at_their_token_ids_and_holds_unused_tokens_down():
    compact = load_compact(SPEC.steps[-1])
    full = expand_state_dict(compact, SPEC)
    ids = torch.tensor(SPEC.token_ids)
    unused = torch.ones(PYTHIA_VOCAB, dtype=torch.bool)
    unused[ids] = False
    assert full[INPUT_EMBEDDING].shape == (PYTHIA_VOCAB, SPEC.shape.d_model)
    assert torch.equal(full[INPUT_EMBEDDING][ids], compact[INPUT_EMBEDDING])
    assert torch.equal(full[UNEMBEDDING][ids], compact[UNEMBEDDING])
    assert not full[INPUT_EMBEDDING][unused].any()
    expected = torch.zeros(SPEC.shape.d_model, dtype=full[UNEMBEDDING].dtype)
    expected[SPEC.reserved_dim] = SPEC.unused_logit
    assert torch.equal(full[UNEMBEDDING][unused], expected.expand(int(unused.sum()), -1))


def test_unused_tokens_get_the_unused_logit_at_every_position():
    model = micro_pythia_model(SPEC.steps[-1], dtype=torch.float32)
    norm = model.gpt_neox.final_layer_norm
    assert norm.weight[SPEC.reserved_dim] == 0 and norm.bias[SPEC.reserved_dim] == 1
    tokens = torch.tensor([list(SPEC.token_ids[:12])])
    with torch.no_grad():
        logits = model(tokens).logits[0]
    unused = torch.ones(PYTHIA_VOCAB, dtype=torch.bool)
    unused[list(SPEC.token_ids)] = False
    torch.testing.assert_close(
        logits[:, unused], torch.full_like(logits[:, unused], SPEC.unused_logit)
    )
    # the used tokens' logits sit far above: the unused mass is negligible everywhere
    mass = logits.double().softmax(-1)[:, unused].sum(-1)
    assert float(mass.max()) < 1e-6
