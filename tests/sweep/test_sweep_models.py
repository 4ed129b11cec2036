"""A process holds one model between units: the previous one is freed before the next loads."""

from __future__ import annotations

import weakref

from mechcirc.models.spec import ModelSpec
from mechcirc.sweep.models import ModelSlot


def test_the_previous_model_is_freed_before_the_next_loads(sweep_hub, monkeypatch):
    slot = ModelSlot()
    first = weakref.ref(slot.load(ModelSpec("pythia-70m", "step0", device="cpu")))
    alive_at_next_load = []
    real_load = ModelSpec.load

    def load(spec, **options):
        alive_at_next_load.append(first() is not None)
        return real_load(spec, **options)

    monkeypatch.setattr(ModelSpec, "load", load)
    second = slot.load(ModelSpec("pythia-70m", "step512", device="cpu"))
    assert alive_at_next_load == [False]
    assert slot.model is second and slot.spec.revision == "step512"
    slot.release()
    assert slot.model is None
