"""load_model against a hand-built offline hub cache, local folders, and every error path."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechcirc import enable_analysis_hooks, load_model
from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.hooks import HOOK_SWITCHES, hook_switches
from mechcirc.models.loading import resolve_source
from mechcirc.models.offline_hub import TinyPythiaShape, fake_commit_hash
from mechcirc.models.summary import model_summary
from mechcirc.models.tiny import TinyShape, tiny_hf_model, tiny_tokenizer

PROMPT = "When Mary and John went to the store, John gave a drink to"


def _ids(model):
    return model.tokenizer(PROMPT, return_tensors="pt")["input_ids"]


def test_two_revisions_load_with_different_weights(offline_env):
    late = load_model("pythia-160m", revision="step143000", device="cpu")
    early = load_model("pythia-160m", revision=1000, device="cpu")
    shape = TinyPythiaShape()
    for model in (late, early):
        assert (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_model) == (
            shape.n_layers,
            shape.n_heads,
            shape.d_model,
        )
        assert model.cfg.parallel_attn_mlp
        hf_config = model.original_model.config
        assert hf_config.rope_parameters["partial_rotary_factor"] == 0.25
        assert hf_config.use_parallel_residual
    assert late.mechcirc_source.revision == "step143000"
    assert late.mechcirc_source.commit == fake_commit_hash("EleutherAI/pythia-160m", "step143000")
    assert early.mechcirc_source.commit == fake_commit_hash("EleutherAI/pythia-160m", "step1000")
    w_late = late.original_model.gpt_neox.embed_in.weight
    w_early = early.original_model.gpt_neox.embed_in.weight
    assert not torch.equal(w_late, w_early)
    assert not torch.allclose(late(_ids(late)), early(_ids(early)))


def test_main_resolves_to_the_last_revision(offline_env):
    model = load_model("EleutherAI/pythia-160m", device="cpu")
    assert model.mechcirc_source.commit == fake_commit_hash("EleutherAI/pythia-160m", "step143000")


def test_logits_equal_raw_transformers(offline_env):
    bridge = load_model("pythia-160m", revision="step1000", device="cpu", processing="none")
    raw = AutoModelForCausalLM.from_pretrained("EleutherAI/pythia-160m", revision="step1000")
    ids = _ids(bridge)
    with torch.no_grad():
        torch.testing.assert_close(bridge(ids), raw(ids).logits, rtol=0, atol=1e-5)


def test_hooked_processing_changes_logits_only_by_a_constant(offline_env):
    hooked = load_model("pythia-160m", revision="step1000", device="cpu")
    raw = AutoModelForCausalLM.from_pretrained("EleutherAI/pythia-160m", revision="step1000")
    ids = _ids(hooked)
    with torch.no_grad():
        torch.testing.assert_close(
            hooked(ids).log_softmax(-1), raw(ids).logits.log_softmax(-1), rtol=0, atol=1e-4
        )


def test_analysis_hooks_switch_on_without_changing_outputs_then_restore(offline_env):
    model = load_model("pythia-160m", revision="step0", device="cpu")
    ids = _ids(model)
    assert hook_switches(model) == dict.fromkeys(HOOK_SWITCHES, False)
    with torch.no_grad():
        before = model(ids)
        with enable_analysis_hooks(model), enable_analysis_hooks(model):  # nested is fine
            names = ("blocks.1.hook_q_input", "blocks.1.attn.hook_result", "blocks.1.hook_mlp_in")
            after, cache = model.run_with_cache(ids, names_filter=lambda n: n in names)
            assert hook_switches(model) == dict.fromkeys(HOOK_SWITCHES, True)
    assert hook_switches(model) == dict.fromkeys(HOOK_SWITCHES, False)
    model.set_use_attn_result(True)  # a switch the user turned on stays on
    with enable_analysis_hooks(model):
        pass
    assert hook_switches(model) == {**dict.fromkeys(HOOK_SWITCHES, False), "use_attn_result": True}
    torch.testing.assert_close(after, before, rtol=0, atol=1e-4)
    n_pos, cfg = ids.shape[1], model.cfg
    assert cache["blocks.1.hook_q_input"].shape == (1, n_pos, cfg.n_heads, cfg.d_model)
    assert cache["blocks.1.attn.hook_result"].shape == (1, n_pos, cfg.n_heads, cfg.d_model)
    summary = model_summary(model)
    assert summary["n_layers"] == cfg.n_layers and summary["parallel_attn_mlp"] is True
    # each underlying tensor once: the checkpoint's own count (the booted model's
    # num_parameters() also counts the fused qkv weight beside its split q/k/v copies)
    raw = AutoModelForCausalLM.from_pretrained("EleutherAI/pythia-160m", revision="step0")
    assert summary["parameters"] == raw.num_parameters()


def test_local_folder_loads(tmp_path):
    hf_model = tiny_hf_model("gpt2", TinyShape(), seed=3)
    hf_model.save_pretrained(tmp_path / "m")
    tiny_tokenizer("gpt2").save_pretrained(tmp_path / "m")
    model = load_model(tmp_path / "m", device="cpu", processing="none")
    ids = _ids(model)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf_model(ids).logits, rtol=0, atol=1e-5)
    assert model.mechcirc_source.kind == "local"


def test_model_missing_from_cache_names_id_revision_and_download(offline_env):
    with pytest.raises(ModelLoadError) as err:
        load_model("pythia-410m", revision="step1000", device="cpu")
    message = str(err.value)
    assert "EleutherAI/pythia-410m" in message and "step1000" in message
    assert "hf download EleutherAI/pythia-410m --revision step1000" in message
    assert "HF_HUB_OFFLINE" in message


def test_revision_missing_from_cache(offline_env):
    with pytest.raises(ModelLoadError, match=r"pythia-160m at revision step2000"):
        load_model("pythia-160m", revision="step2000", device="cpu")


def test_invalid_step_lists_schedule_before_touching_the_cache(offline_env):
    with pytest.raises(ModelLoadError, match=r"0, 1, 2, 4, 8, \.\.\., 512, then every 1000"):
        load_model("pythia-160m", revision="step1234")


def test_unknown_short_name(offline_env):
    with pytest.raises(ModelLoadError, match="Did you mean: pythia-160m"):
        load_model("pythia-16m")


def test_folder_without_config_and_missing_gguf(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_source(tmp_path)
    with pytest.raises(ModelLoadError, match="GGUF file not found"):
        resolve_source(tmp_path / "model.Q8_0.gguf")


def test_gguf_path_routes_to_transformers_gguf_loader(tmp_path, monkeypatch):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    source = resolve_source(gguf)
    assert source.kind == "gguf" and source.model_id == str(gguf.resolve())
    calls = []

    def fake_from_pretrained(target, **kwargs):
        calls.append((target, kwargs))
        raise OSError("not a real GGUF")

    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    with pytest.raises(ModelLoadError, match="could not load gguf model"):
        load_model(gguf, device="cpu")
    assert calls[0] == (str(tmp_path), {"trust_remote_code": False, "gguf_file": "tiny.gguf"})


def test_bad_processing_value():
    with pytest.raises(UsageError, match="processing must be one of"):
        load_model("pythia-160m", processing="folded")


def test_tiny_models_leave_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = tiny_hf_model("gpt2", TinyShape(), seed=4)
    assert torch.equal(torch.rand(3), expected)
    again = tiny_hf_model("gpt2", TinyShape(), seed=4)
    assert all(
        torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters(), strict=True)
    )
