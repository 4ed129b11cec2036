"""switch_revision: another revision's weights in the same bridge equal a fresh load_model."""

import pytest
import torch

from mechcirc import enable_analysis_hooks, load_model
from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.hooks import HOOK_SWITCHES, hook_switches
from mechcirc.models.loading import switch_revision
from mechcirc.models.offline_hub import fake_commit_hash
from mechcirc.models.tiny import TinyShape, tiny_hf_model, tiny_tokenizer

IDS = torch.tensor([[312, 4519, 97, 2210, 8001, 15, 623, 4444]])
NAMES = ("blocks.1.attn.hook_result", "blocks.0.hook_q_input", "blocks.1.hook_mlp_out")


def _assert_same_model(switched, fresh):
    expected, actual = fresh.state_dict(), switched.state_dict()
    assert expected.keys() == actual.keys()
    for key, tensor in expected.items():
        assert torch.equal(actual[key], tensor), key
    with torch.no_grad(), enable_analysis_hooks(switched), enable_analysis_hooks(fresh):
        ours, cache = switched.run_with_cache(IDS, names_filter=lambda n: n in NAMES)
        theirs, fresh_cache = fresh.run_with_cache(IDS, names_filter=lambda n: n in NAMES)
    assert torch.equal(ours, theirs)
    for name in NAMES:
        assert torch.equal(cache[name], fresh_cache[name]), name


@pytest.mark.parametrize(
    "repo", ["mechcirc-test/neox", "mechcirc-test/gpt2", "mechcirc-test/llama"]
)
@pytest.mark.parametrize("processing", ["hooked", "none"])
def test_switch_equals_a_fresh_load(perturbed_hub, repo, processing):
    model = load_model(repo, revision="r1", device="cpu", processing=processing)
    for revision in ("r2", "r3", "r1"):
        same = switch_revision(model, revision)
        assert same is model
        fresh = load_model(repo, revision=revision, device="cpu", processing=processing)
        _assert_same_model(model, fresh)
        assert model.mechcirc_source == fresh.mechcirc_source
        assert model.mechcirc_source.commit == fake_commit_hash(repo, revision)


def test_hooks_and_switches_survive_a_switch(perturbed_hub):
    model = load_model("mechcirc-test/neox", revision="r1", device="cpu")
    model.set_use_attn_result(True)
    seen = []
    model.blocks[1].attn.hook_result.add_hook(lambda act, hook: seen.append(act.clone()))
    switch_revision(model, "r2")
    assert hook_switches(model) == {**dict.fromkeys(HOOK_SWITCHES, False), "use_attn_result": True}
    with torch.no_grad():
        model(IDS)
    fresh = load_model("mechcirc-test/neox", revision="r2", device="cpu")
    with torch.no_grad(), enable_analysis_hooks(fresh):
        _, cache = fresh.run_with_cache(IDS, names_filter="blocks.1.attn.hook_result")
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], cache["blocks.1.attn.hook_result"], rtol=0, atol=1e-6)


def test_eight_switches_reuse_the_same_tensors(perturbed_hub):
    model = load_model("mechcirc-test/neox", revision="r1", device="cpu")

    def storages():
        tensors = [*model.parameters(), *model.buffers()]
        return sorted(t.data_ptr() for t in tensors), sum(t.numel() for t in tensors)

    before = storages()
    for revision in ("r2", "r3", "r1") * 3 + ("r2",):
        switch_revision(model, revision)
    assert storages() == before  # no tensor replaced, none added: memory cannot grow


def test_a_revision_of_another_shape_is_refused(perturbed_hub):
    model = load_model("mechcirc-test/neox", revision="r1", device="cpu")
    with pytest.raises(
        UsageError, match=r"mechcirc-test/neox@wide has another config .*hidden_size"
    ):
        switch_revision(model, "wide")
    assert model.mechcirc_source.revision == "r1"


def test_a_bin_only_revision_is_refused(perturbed_hub):
    model = load_model("mechcirc-test/neox", revision="r1", device="cpu")
    with pytest.raises(UsageError, match="only pytorch_model.bin"):
        switch_revision(model, "bin-only")


def test_missing_and_malformed_revisions(offline_env):
    model = load_model("pythia-160m", revision="step0", device="cpu")
    with pytest.raises(
        ModelLoadError, match="hf download EleutherAI/pythia-160m --revision step2000"
    ):
        switch_revision(model, "step2000")
    with pytest.raises(UsageError, match="invalid revision 'step-5'"):
        switch_revision(model, "step-5")
    assert model.mechcirc_source.revision == "step0"


def test_a_local_model_cannot_switch(tmp_path):
    tiny_hf_model("gpt2", TinyShape(), seed=3).save_pretrained(tmp_path / "m")
    tiny_tokenizer("gpt2").save_pretrained(tmp_path / "m")
    model = load_model(tmp_path / "m", device="cpu")
    with pytest.raises(
        UsageError, match="loaded from the hub by mechcirc.load_model, got one from local"
    ):
        switch_revision(model, "main")
