"""Model loading, names and revisions, devices, hook switches and the offline hub cache.

Exports load on first use, so importing a light module such as ``mechcirc.models.names`` (which
``mechcirc models list`` needs) does not import torch and TransformerLens.
"""

from importlib import import_module

_LAZY = {
    "resolve_device": "mechcirc.models.device",
    "resolve_dtype": "mechcirc.models.device",
    "enable_analysis_hooks": "mechcirc.models.hooks",
    "hook_switches": "mechcirc.models.hooks",
    "HookedModel": "mechcirc.models.protocol",
    "Tokenizer": "mechcirc.models.protocol",
    "describe_model": "mechcirc.models.summary",
    "ModelSource": "mechcirc.models.loading",
    "load_model": "mechcirc.models.loading",
    "switch_revision": "mechcirc.models.loading",
    "resolve_source": "mechcirc.models.loading",
    "MICRO_PYTHIA_ID": "mechcirc.models.micro_spec",
    "MicroPythiaSpec": "mechcirc.models.micro_spec",
    "load_spec": "mechcirc.models.micro_spec",
    "micro_pythia_model": "mechcirc.models.micro_pythia",
    "PYTHIA_STEPS": "mechcirc.models.names",
    "known_steps": "mechcirc.models.names",
    "SHORT_NAMES": "mechcirc.models.names",
    "normalize_revision": "mechcirc.models.names",
    "resolve_model_id": "mechcirc.models.names",
    "TinyPythiaShape": "mechcirc.models.pythia_shape",
    "build_offline_hub": "mechcirc.models.offline_hub",
    "write_micro_pythia": "mechcirc.models.offline_hub",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mechcirc.models' has no attribute {name!r}")
