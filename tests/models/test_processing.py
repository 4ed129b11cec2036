"""In-place weight processing equals TransformerLens's own, tensor for tensor, for every
architecture it handles, and leaves the hooks and parameters of the bridge in place."""

import copy

import pytest
import torch
from transformer_lens.model_bridge import TransformerBridge

from mechcirc import enable_analysis_hooks, load_model
from mechcirc.models.hooks import hook_switches
from mechcirc.models.processing import in_place_supported, process_weights_in_place
from mechcirc.models.tiny import tiny_tokenizer

ARCHS = ("gpt-neox", "gpt2", "llama")
IDS = torch.tensor([[312, 4519, 97, 2210, 8001, 15, 623, 4444, 1999]])


@pytest.fixture
def bridges(perturbed_model):
    """``make(arch, dtype)``: one perturbed model processed by TransformerLens and in place,
    and the raw transformers model."""
    return lambda arch, dtype=torch.float32: _bridges(arch, perturbed_model(arch, 11).to(dtype))


def _bridges(arch: str, raw):
    dtype = raw.dtype
    theirs = TransformerBridge.boot_transformers(
        "t", hf_model=copy.deepcopy(raw), tokenizer=tiny_tokenizer(arch), dtype=dtype
    )
    theirs.enable_compatibility_mode(disable_warnings=True)
    ours = TransformerBridge.boot_transformers(
        "t", hf_model=copy.deepcopy(raw), tokenizer=tiny_tokenizer(arch), dtype=dtype
    )
    ours.enable_compatibility_mode(disable_warnings=True, no_processing=True)
    process_weights_in_place(ours)
    return theirs, ours, raw


@pytest.mark.parametrize("arch", ARCHS)
def test_every_weight_equals_transformer_lens_processing(bridges, arch):
    theirs, ours, _ = bridges(arch)
    expected, actual = theirs.state_dict(), ours.state_dict()
    assert expected.keys() == actual.keys()
    for key, tensor in expected.items():
        torch.testing.assert_close(actual[key], tensor, rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_and_per_head_results_equal_transformer_lens(bridges, arch):
    theirs, ours, raw = bridges(arch)
    names = ("blocks.1.attn.hook_result", "blocks.0.hook_mlp_out", "blocks.1.hook_resid_post")
    with torch.no_grad(), enable_analysis_hooks(theirs), enable_analysis_hooks(ours):
        logits, cache = theirs.run_with_cache(IDS, names_filter=lambda n: n in names)
        our_logits, our_cache = ours.run_with_cache(IDS, names_filter=lambda n: n in names)
        raw_logits = raw(IDS).logits
    torch.testing.assert_close(our_logits, logits, rtol=0, atol=1e-5)
    for name in names:
        torch.testing.assert_close(our_cache[name], cache[name], rtol=0, atol=1e-5, msg=name)
    # processing changes logits by a per-position constant only: log-probs stay the raw model's
    torch.testing.assert_close(
        our_logits.log_softmax(-1), raw_logits.log_softmax(-1), rtol=0, atol=1e-4
    )
    norm = ours.blocks[0].ln1.original_component.weight  # folded: the norm's scale is now one
    assert torch.equal(norm, torch.ones_like(norm))
    assert not torch.equal(raw.lm_head.weight, ours.unembed.original_component.weight)


@pytest.mark.parametrize("arch", ARCHS)
def test_half_precision_matches_to_its_rounding(bridges, arch):
    theirs, ours, _ = bridges(arch, torch.bfloat16)
    expected, actual = theirs.state_dict(), ours.state_dict()
    for key, tensor in expected.items():  # one bfloat16 step at the tensor's scale at most
        step = tensor.float().abs().max().clamp(min=1e-3) * 2**-7
        assert (actual[key].float() - tensor.float()).abs().max() <= step, key
    with torch.no_grad():
        diff = (ours(IDS).float() - theirs(IDS).float()).abs().max()
    assert diff < 0.02


def test_hooks_switches_and_parameters_stay_in_place(bridges):
    theirs, ours, _ = bridges("gpt-neox")
    assert set(ours.hook_dict) == set(theirs.hook_dict)
    assert hook_switches(ours) == hook_switches(theirs)
    before = {name: id(p) for name, p in ours.named_parameters()}
    process_weights_in_place(ours)  # a second pass: same objects (and still folded)
    assert {name: id(p) for name, p in ours.named_parameters()} == before
    assert ours._weights_processed


def test_tied_unembedding_is_untied_before_the_embedding_is_centred(bridges):
    _, ours, raw = bridges("gpt2")
    embed = ours.embed.original_component.weight
    unembed = ours.unembed.original_component.weight
    assert embed.data_ptr() != unembed.data_ptr()
    raw_embed = raw.transformer.wte.weight
    torch.testing.assert_close(embed, raw_embed - raw_embed.mean(-1, keepdim=True))


def test_unsupported_architecture_falls_back_to_transformer_lens(offline_env, monkeypatch):
    ours = load_model("pythia-160m", revision="step1000", device="cpu")
    assert in_place_supported(ours) and ours.mechcirc_layout is not None
    monkeypatch.setattr("mechcirc.models.processing.IN_PLACE_ADAPTERS", frozenset())
    theirs = load_model("pythia-160m", revision="step1000", device="cpu")
    assert not in_place_supported(theirs) and theirs.mechcirc_layout is None
    with torch.no_grad():
        torch.testing.assert_close(ours(IDS), theirs(IDS), rtol=0, atol=1e-5)
