"""A process holds one model between units: another revision of it is switched in place, and
another model is loaded only after the previous one is freed."""

from __future__ import annotations

import weakref

import torch

from mechcirc.models.spec import ModelSpec
from mechcirc.sweep.models import ModelSlot


def _record_fresh_loads(monkeypatch, watched) -> list[bool]:
    """Each fresh load appends whether ``watched`` (a weak reference) was still alive."""
    alive_at_load = []
    real_load = ModelSpec.load

    def load(spec, **options):
        alive_at_load.append(watched() is not None)
        return real_load(spec, **options)

    monkeypatch.setattr(ModelSpec, "load", load)
    return alive_at_load


def test_another_revision_is_switched_into_the_same_bridge(sweep_hub, monkeypatch):
    slot = ModelSlot()
    first = slot.load(ModelSpec("pythia-70m", "step0", device="cpu"))
    fresh_loads = _record_fresh_loads(monkeypatch, weakref.ref(first))
    second = slot.load(ModelSpec("pythia-70m", "step512", device="cpu"))
    assert second is first and fresh_loads == []  # switched, not rebuilt
    assert second.mechcirc_source.revision == "step512" and slot.spec.revision == "step512"
    monkeypatch.undo()
    reference = ModelSpec("pythia-70m", "step512", device="cpu").load()
    tokens = torch.tensor([[0, 510, 3158, 8516, 30013]])
    torch.testing.assert_close(second(tokens), reference(tokens), rtol=0, atol=1e-5)
    slot.release()
    assert slot.model is None


def test_another_model_loads_after_the_previous_one_is_freed(sweep_hub, monkeypatch):
    slot = ModelSlot()
    first = weakref.ref(slot.load(ModelSpec("pythia-70m", "step0", device="cpu")))
    alive_at_load = _record_fresh_loads(monkeypatch, first)
    second = slot.load(ModelSpec("pythia-31m", "step0", device="cpu"))
    assert alive_at_load == [False]
    assert slot.model is second and slot.spec.name == "pythia-31m"
    slot.release()
