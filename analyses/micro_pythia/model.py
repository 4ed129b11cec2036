"""The micro-Pythia as it is trained: a GPT-NeoX over the corpus vocabulary with a constant
residual dimension.

The final layer norm's ``reserved_dim`` has weight 0 and bias 1 and gets no gradient, so the
unembedding's column there is a per-token bias and, once the model is expanded to the full
vocabulary, every unused token's logit is ``unused_logit`` (``mechcirc.models.micro_pythia``).

Example:
    >>> model = compact_model(MicroPythiaConfig(), n_vocab=516)    # doctest: +SKIP
    >>> logits = causal_lm_logits(model, torch.zeros(2, 5, dtype=torch.long))  # [2, 5, 516]
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformers import GPTNeoXForCausalLM

from mechcirc.analyses.micro_pythia.config import MicroPythiaConfig

__all__ = ["causal_lm_logits", "compact_model", "hold_constant_dimension"]


def hold_constant_dimension(model: GPTNeoXForCausalLM, dim: int) -> None:
    """Set the final layer norm to output 1 on ``dim`` (weight 0, bias 1) and keep it there:
    gradient hooks zero those two entries, so Adam never moves them."""
    norm = model.gpt_neox.final_layer_norm
    with torch.no_grad():
        norm.weight[dim] = 0.0
        norm.bias[dim] = 1.0
    keep = torch.ones_like(norm.weight)
    keep[dim] = 0.0
    norm.weight.register_hook(lambda grad: grad * keep)
    norm.bias.register_hook(lambda grad: grad * keep)


def compact_model(config: MicroPythiaConfig, n_vocab: int) -> GPTNeoXForCausalLM:
    """A freshly initialised model (seeded by ``config.seed``) over ``n_vocab`` tokens."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = GPTNeoXForCausalLM(config.shape.config(vocab_size=n_vocab))
    hold_constant_dimension(model, config.reserved_dim)
    return model.train()


def causal_lm_logits(
    model: GPTNeoXForCausalLM, inputs: Int[Tensor, "batch seq"]
) -> Float[Tensor, "batch seq vocab"]:
    """Next-token logits at every position (the trainer's ``logits_fn``)."""
    return model(input_ids=inputs).logits
