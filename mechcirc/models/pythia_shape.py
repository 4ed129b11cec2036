"""The shape of a small model with Pythia's architecture, as a GPT-NeoX config.

Pythia's choices: GPT-NeoX blocks with attention and MLP in parallel, rotary position
embeddings on 25% of each head's dimensions (base 10000), GELU, untied unembedding, and the
50,277-token GPT-NeoX-20B vocabulary padded to 50,304 rows.

Example:
    >>> config = TinyPythiaShape(n_layers=2).config()
    >>> config.vocab_size, config.rotary_pct, config.use_parallel_residual
    (50304, 0.25, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

__all__ = ["PYTHIA_VOCAB", "TinyPythiaShape"]

if TYPE_CHECKING:  # transformers is imported on use: names and specs stay light
    from transformers import GPTNeoXConfig

PYTHIA_VOCAB = 50304  # Pythia pads the 50,277-token vocabulary to a multiple of 128


@dataclass(frozen=True)
class TinyPythiaShape:
    """Shape of a small model with Pythia's architecture (the offline hub's tiny model)."""

    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 64
    d_mlp: int = 256
    n_ctx: int = 256

    def config(self, vocab_size: int = PYTHIA_VOCAB) -> GPTNeoXConfig:
        """A GPT-NeoX config with Pythia's choices; ``vocab_size`` rows of (un)embedding."""
        from transformers import GPTNeoXConfig

        return GPTNeoXConfig(
            vocab_size=vocab_size,
            hidden_size=self.d_model,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads,
            intermediate_size=self.d_mlp,
            max_position_embeddings=self.n_ctx,
            rotary_pct=0.25,
            rotary_emb_base=10000,
            use_parallel_residual=True,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
            tie_word_embeddings=False,
            bos_token_id=0,
            eos_token_id=0,
            architectures=["GPTNeoXForCausalLM"],
        )
