"""A real GGUF file (written here with the `gguf` package, as llama.cpp's converter would)
loads through load_model and gives the same logits as the model it was written from."""

import json

import numpy as np
import pytest
import torch

from mechcirc import load_model
from mechcirc.models.tiny import TinyShape, tiny_hf_model, tiny_tokenizer

gguf = pytest.importorskip("gguf")

# GPT-2's Conv1D weights are stored transposed in GGUF (llama.cpp's convert script does this).
_CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def write_gpt2_gguf(path, model, tokenizer) -> None:
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_name("tiny-gpt2")
    writer.add_block_count(cfg.n_layer)
    writer.add_context_length(cfg.n_positions)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_feed_forward_length(4 * cfg.n_embd)
    writer.add_head_count(cfg.n_head)
    writer.add_layer_norm_eps(cfg.layer_norm_epsilon)
    backend = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    vocab = sorted(backend["vocab"].items(), key=lambda kv: kv[1])
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([gguf.TokenType.NORMAL] * len(vocab))
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in backend["merges"]])
    writer.add_bos_token_id(cfg.bos_token_id)
    writer.add_eos_token_id(cfg.eos_token_id)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT2, cfg.n_layer)
    for hf_name, tensor in model.state_dict().items():
        if hf_name.endswith(".attn.bias") or hf_name.endswith(".attn.masked_bias"):
            continue
        data = tensor.detach().float()
        if hf_name.endswith(_CONV1D):
            data = data.T.contiguous()
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        writer.add_tensor(name, data.numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.slow
def test_gguf_file_loads_with_matching_logits(tmp_path):
    # transformers reads GGUF context_length as n_ctx and keeps n_positions at 1024, as in GPT-2
    hf_model = tiny_hf_model("gpt2", TinyShape(n_ctx=1024), seed=5)
    tokenizer = tiny_tokenizer("gpt2")
    path = tmp_path / "tiny-gpt2.F32.gguf"
    write_gpt2_gguf(path, hf_model, tokenizer)
    model = load_model(path, device="cpu", processing="none")
    assert model.mechcirc_source.kind == "gguf"
    ids = tokenizer("Hello, I am", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf_model(ids).logits, rtol=0, atol=1e-4)
