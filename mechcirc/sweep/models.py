"""Loading each unit's model, and freeing the previous one first.

:func:`load_unit_model` is the one place a unit gets its model, so switching revisions inside an
already-built bridge (``mechcirc.models.loading.switch_revision``) plugs in there. A process keeps
at most one model, in :data:`MODEL_SLOT`, between its units; the slot holds the only reference,
so releasing it really frees the weights.

Example:
    >>> model = MODEL_SLOT.load(ModelSpec("pythia-70m", "step1000"))   # doctest: +SKIP
    >>> MODEL_SLOT.release()                                          # doctest: +SKIP
"""

from __future__ import annotations

import gc

from mechcirc.models.loading import switch_revision
from mechcirc.models.memory import release_freed_memory
from mechcirc.models.protocol import HookedModel
from mechcirc.models.spec import ModelSpec

__all__ = ["MODEL_SLOT", "ModelSlot", "free_memory", "load_unit_model"]


def free_memory() -> None:
    """Collect garbage, return cached accelerator memory and the freed heap to the system, so a
    freed model's memory is really gone."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    release_freed_memory()


class ModelSlot:
    """The one model a process holds between units, and the spec it was loaded from."""

    def __init__(self) -> None:
        self.model: HookedModel | None = None
        self.spec: ModelSpec | None = None

    def load(self, spec: ModelSpec) -> HookedModel:
        """The model ``spec`` names, through :func:`load_unit_model`."""
        self.model, self.spec = load_unit_model(self, spec), spec
        return self.model

    def take(self) -> HookedModel | None:
        """Hand over the held model (the slot forgets it)."""
        model, self.model, self.spec = self.model, None, None
        return model

    def release(self) -> None:
        """Drop the model (before loading another, after a failed unit, at the end)."""
        self.model, self.spec = None, None
        free_memory()


def load_unit_model(slot: ModelSlot, spec: ModelSpec) -> HookedModel:
    """The model of a unit, given the slot holding the process's previous unit's model.

    The same model at another revision is switched in place (:func:`switch_revision`: the
    bridge is kept, the new checkpoint read into it); anything else releases the previous
    model before ``spec`` loads from scratch, so memory never holds two models.
    """
    held = slot.spec
    same = held is not None and held.replace(revision=spec.revision) == spec
    source = getattr(slot.model, "mechcirc_source", None)
    if same and source is not None and source.kind == "hub" and spec.revision is not None:
        return switch_revision(slot.take(), spec.revision)
    slot.release()
    return spec.load()


MODEL_SLOT = ModelSlot()
