"""A model's shape read from its config alone (no weights), to validate requests before loading.

Example:
    >>> shape = model_shape("pythia-160m", "step143000")      # doctest: +SKIP
    >>> check_positions(shape, 5001, "--seq-len 2500 (2 x 2500 + 1 positions)")  # doctest: +SKIP
    UsageError: ... the model's context holds 2048 positions
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.loading import ModelSource, load_failure_message, resolve_source

__all__ = ["ModelShape", "check_positions", "model_shape"]

# Config attribute names of the context length across architectures, most specific first.
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")


@dataclass(frozen=True)
class ModelShape:
    """What requests are checked against: layers, heads, widths and the context length."""

    n_layers: int
    n_heads: int
    d_model: int
    n_ctx: int | None
    vocab_size: int


def model_shape(name_or_path: str | Path, revision: str | int | None = None) -> ModelShape:
    """The shape of ``name_or_path`` at ``revision``, from ``config.json`` (or GGUF metadata)."""
    source = resolve_source(name_or_path, revision)
    config = _config(source)
    n_ctx = next((getattr(config, k) for k in _CONTEXT_KEYS if getattr(config, k, None)), None)
    return ModelShape(
        n_layers=config.num_hidden_layers,
        n_heads=config.num_attention_heads,
        d_model=config.hidden_size,
        n_ctx=n_ctx,
        vocab_size=config.vocab_size,
    )


def check_positions(shape: ModelShape, n_positions: int, what: str) -> None:
    """``UsageError`` when ``n_positions`` token positions do not fit the model's context."""
    if shape.n_ctx is not None and n_positions > shape.n_ctx:
        raise UsageError(
            f"{what} needs {n_positions} positions, but the model's context holds "
            f"{shape.n_ctx}: ask for fewer"
        )


def _config(source: ModelSource):
    from transformers import AutoConfig

    kwargs: dict = {}
    target = source.model_id
    if source.kind == "gguf":
        target, kwargs["gguf_file"] = str(Path(source.model_id).parent), Path(source.model_id).name
    elif source.revision is not None:
        kwargs["revision"] = source.revision
    try:
        return AutoConfig.from_pretrained(target, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(load_failure_message(source, err)) from err
