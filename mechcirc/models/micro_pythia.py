"""The built-in micro-Pythia's weights: compact shipped checkpoints, expanded to full vocabulary.

The shipped ``checkpoints.safetensors`` holds, for every checkpoint step ``N``, the tensors of a
``GPTNeoXForCausalLM`` under ``step{N}/<name>``, with the (un)embedding restricted to the spec's
``token_ids``: matrices as int8 with one float16 scale per row (``<name>.scale``), vectors in
float16 (``encode_state``); the model is their float16 decoding. ``expand_state_dict`` puts
the (un)embedding rows back at their token ids in the full 50,304-row vocabulary: unused
tokens get a zero input embedding and an unembedding that is ``unused_logit`` on the reserved
dimension (which the final layer norm holds at 1) and 0 elsewhere, so their logit is
``unused_logit`` (-30) at every position and their probability is negligible next to the
used tokens'.

Example:
    >>> model = micro_pythia_model(load_spec().steps[-1])     # doctest: +SKIP
    >>> model.config.vocab_size                                # doctest: +SKIP
    50304
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from jaxtyping import Float, Int8
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor
from transformers import GPTNeoXForCausalLM

from mechcirc.errors import ModelLoadError
from mechcirc.models.micro_spec import (
    CHECKPOINTS_FILE,
    SPEC_FILE,
    MicroPythiaSpec,
    load_spec,
    shipped_folder,
)
from mechcirc.models.pythia_shape import PYTHIA_VOCAB

__all__ = [
    "INPUT_EMBEDDING",
    "INT8_MAX",
    "SCALE_SUFFIX",
    "SHIPPED_DTYPE",
    "UNEMBEDDING",
    "checkpoint_key",
    "decode_state",
    "dequantize_rows",
    "encode_state",
    "expand_rows",
    "expand_state_dict",
    "file_sha256",
    "load_compact",
    "load_stored",
    "micro_pythia_model",
    "quantize_rows",
    "save_checkpoints",
]

INPUT_EMBEDDING = "gpt_neox.embed_in.weight"
UNEMBEDDING = "lm_head.weight"
SHIPPED_DTYPE = torch.float16
SCALE_SUFFIX = ".scale"
INT8_MAX = 127


def checkpoint_key(step: int, name: str) -> str:
    """The key of tensor ``name`` of checkpoint ``step`` in ``checkpoints.safetensors``."""
    return f"step{step}/{name}"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def quantize_rows(
    weight: Float[Tensor, "rows cols"],
) -> tuple[Int8[Tensor, "rows cols"], Float[Tensor, " rows"]]:
    """Symmetric int8 per row: ``weight ~ q * scale[:, None]``, ``scale`` in float16.

    >>> q, scale = quantize_rows(torch.tensor([[0.5, -1.0], [0.0, 0.0]]))
    >>> q.tolist(), dequantize_rows(q, scale).tolist()
    ([[64, -127], [0, 0]], [[0.5039..., -1.0], [0.0, 0.0]])
    """
    amax = weight.detach().float().abs().amax(dim=1)
    scale = (amax / INT8_MAX).to(SHIPPED_DTYPE)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(weight.detach().float() / scale.float()[:, None])
    return q.clamp(-INT8_MAX, INT8_MAX).to(torch.int8), scale


def dequantize_rows(
    q: Int8[Tensor, "rows cols"], scale: Float[Tensor, " rows"]
) -> Float[Tensor, "rows cols"]:
    """``q * scale[:, None]`` in the shipped dtype (float16)."""
    return (q.float() * scale.float()[:, None]).to(SHIPPED_DTYPE)


def encode_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """How a checkpoint is stored: matrices as int8 rows plus ``<name>.scale``, vectors
    (biases, layer norms) in float16."""
    stored: dict[str, Tensor] = {}
    for name, value in state.items():
        if value.ndim == 2:
            stored[name], stored[name + SCALE_SUFFIX] = quantize_rows(value)
        else:
            stored[name] = value.detach().to(SHIPPED_DTYPE)
    return {name: value.contiguous() for name, value in stored.items()}


def decode_state(stored: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The float16 state dict of a stored checkpoint (``encode_state`` reversed)."""
    state = {}
    for name, value in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        state[name] = value.to(SHIPPED_DTYPE) if scale is None else dequantize_rows(value, scale)
    return state


def save_checkpoints(
    folder: str | Path,
    spec: MicroPythiaSpec,
    checkpoints: Mapping[int, Mapping[str, Tensor]],
) -> MicroPythiaSpec:
    """Write ``checkpoints`` (step -> compact state dict) and the spec into ``folder``.

    Tensors are stored by ``encode_state``; the spec's ``steps`` and ``checkpoints_sha256`` are
    set from what was written. Returns the spec as written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        checkpoint_key(step, name): value
        for step in sorted(checkpoints)
        for name, value in encode_state(checkpoints[step]).items()
    }
    save_file(tensors, str(folder / CHECKPOINTS_FILE), metadata={"format": "micro-pythia"})
    spec = replace(
        spec,
        steps=tuple(sorted(checkpoints)),
        checkpoints_sha256=file_sha256(folder / CHECKPOINTS_FILE),
    )
    (folder / SPEC_FILE).write_text(spec.to_json())
    return spec


def load_stored(step: int, folder: str | Path | None = None) -> dict[str, Tensor]:
    """Checkpoint ``step`` as stored (int8 matrices with their scales, float16 vectors)."""
    folder = Path(folder or shipped_folder())
    spec = load_spec(folder)
    if step not in spec.steps:
        raise ModelLoadError(
            f"micro-Pythia has no checkpoint at step {step}; its steps are {list(spec.steps)}"
        )
    prefix = checkpoint_key(step, "")
    with safe_open(str(folder / CHECKPOINTS_FILE), framework="pt") as handle:
        return {
            key[len(prefix) :]: handle.get_tensor(key)
            for key in handle.keys()  # noqa: SIM118 (safe_open is not a mapping)
            if key.startswith(prefix)
        }


def load_compact(step: int, folder: str | Path | None = None) -> dict[str, Tensor]:
    """The compact (used-vocabulary) float16 state dict of checkpoint ``step``."""
    return decode_state(load_stored(step, folder))


def expand_rows(
    compact: Float[Tensor, "n_used d_model"],
    token_ids: Tensor,
    fill: Float[Tensor, " d_model"],
) -> Float[Tensor, "vocab d_model"]:
    """A ``[PYTHIA_VOCAB, d_model]`` matrix: ``compact[i]`` at row ``token_ids[i]``, ``fill``
    in every other row."""
    full = fill.to(compact.dtype).expand(PYTHIA_VOCAB, -1).clone()
    full[token_ids] = compact
    return full


def expand_state_dict(compact: Mapping[str, Tensor], spec: MicroPythiaSpec) -> dict[str, Tensor]:
    """The full-vocabulary state dict of a compact checkpoint (see the module docstring)."""
    ids = torch.tensor(spec.token_ids, dtype=torch.long)
    d_model = spec.shape.d_model
    zero = torch.zeros(d_model)
    unused = torch.zeros(d_model)
    unused[spec.reserved_dim] = spec.unused_logit
    full = dict(compact)
    full[INPUT_EMBEDDING] = expand_rows(compact[INPUT_EMBEDDING], ids, zero)
    full[UNEMBEDDING] = expand_rows(compact[UNEMBEDDING], ids, unused)
    return full


def micro_pythia_model(
    step: int, folder: str | Path | None = None, *, dtype: torch.dtype = SHIPPED_DTYPE
) -> GPTNeoXForCausalLM:
    """The micro-Pythia at checkpoint ``step`` as a full-vocabulary transformers model."""
    spec = load_spec(folder)
    state = expand_state_dict(load_compact(step, folder), spec)
    with torch.random.fork_rng():  # the initialisation is overwritten: keep the caller's RNG
        model = GPTNeoXForCausalLM(spec.shape.config())
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()
