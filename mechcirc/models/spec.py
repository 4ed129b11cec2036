"""Which model a run loads, as a typed config that manifests record and ``rerun`` reloads."""

from __future__ import annotations

from dataclasses import dataclass

from mechcirc.config import Config, require_in

__all__ = ["ModelSpec"]

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec(Config):
    """A model name (short name, hub id, folder or ``.gguf``), its revision, device and dtype.

    Example:
        >>> ModelSpec("pythia-160m", revision="step143000").to_dict()["revision"]
        'step143000'
    """

    name: str
    revision: str | None = None
    device: str = "auto"
    dtype: str = "float32"

    def validate(self) -> None:
        require_in("dtype", self.dtype, DTYPES)

    def load(self, **options):
        """The model, through :func:`mechcirc.load_model` (``options`` are passed on)."""
        from mechcirc.models.loading import load_model

        return load_model(self.name, self.revision, device=self.device, dtype=self.dtype, **options)
