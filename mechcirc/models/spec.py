"""Which model a run loads, as a typed config that manifests record and ``rerun`` reloads."""

from __future__ import annotations

from dataclasses import dataclass

from mechcirc.config import Config, require_in

__all__ = ["ModelSpec"]

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec(Config):
    """A model name (short name, hub id, folder or ``.gguf``), its revision, device and dtype;
    ``allow_bin`` lets a checkpoint with only pickled ``pytorch_model.bin`` weights load.

    Example:
        >>> ModelSpec("pythia-160m", revision="step143000").to_dict()["revision"]
        'step143000'
    """

    name: str
    revision: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    allow_bin: bool = False

    def validate(self) -> None:
        from mechcirc.models.names import check_revision_form

        require_in("dtype", self.dtype, DTYPES)
        if self.revision is not None:
            check_revision_form(self.revision)

    def load(self, **options):
        """The model, through :func:`mechcirc.load_model` (``options`` are passed on)."""
        from mechcirc.models.loading import load_model

        return load_model(
            self.name,
            self.revision,
            device=self.device,
            dtype=self.dtype,
            allow_bin=self.allow_bin,
            **options,
        )
