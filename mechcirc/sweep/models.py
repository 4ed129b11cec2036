"""Loading each unit's model, and freeing the previous one first.

:func:`load_unit_model` is the one place a unit gets its model, so switching revisions inside an
already-built bridge (``mechcirc.models.loading.switch_revision``) plugs in here. A process keeps
at most one model, in :data:`MODEL_SLOT`, between its units.

Example:
    >>> model = MODEL_SLOT.load(ModelSpec("pythia-70m", "step1000"))   # doctest: +SKIP
    >>> MODEL_SLOT.release()                                          # doctest: +SKIP
"""

from __future__ import annotations

import gc

from mechcirc.models.protocol import HookedModel
from mechcirc.models.spec import ModelSpec

__all__ = ["MODEL_SLOT", "ModelSlot", "free_memory", "load_unit_model"]


def free_memory() -> None:
    """Collect garbage and return cached accelerator memory, so a freed model's memory is gone."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_unit_model(previous: HookedModel | None, spec: ModelSpec) -> HookedModel:
    """The model of a unit, given the model of the process's previous unit (or None).

    Today the previous model is freed and ``spec`` loaded from scratch, so memory never holds
    two models. The caller passes its only reference to ``previous``.
    """
    del previous
    free_memory()
    return spec.load()


class ModelSlot:
    """The one model a process holds between units."""

    def __init__(self) -> None:
        self._model: HookedModel | None = None
        self._spec: ModelSpec | None = None

    def load(self, spec: ModelSpec) -> HookedModel:
        """The model ``spec`` names, via :func:`load_unit_model` from the slot's last model."""
        previous, self._model, self._spec = self._model, None, None
        model = load_unit_model(previous, spec)
        self._model, self._spec = model, spec
        return model

    def release(self) -> None:
        """Drop the model (after a failed unit, or when the process's units are done)."""
        self._model, self._spec = None, None
        free_memory()


MODEL_SLOT = ModelSlot()
