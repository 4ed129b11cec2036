"""Hooked toy models for training-dynamics experiments: the cross-attention model of Odonnat et
al. and the grokking transformer of Varma et al. (a TransformerLens-native config)."""

from mechcirc.toys.cross_attention import CrossAttentionConfig, HookedCrossAttention
from mechcirc.toys.grokking import (
    GrokkingModelConfig,
    grokking_model,
    last_position_logits,
    native_module,
)

__all__ = [
    "CrossAttentionConfig",
    "GrokkingModelConfig",
    "HookedCrossAttention",
    "grokking_model",
    "last_position_logits",
    "native_module",
]
