"""Model loading, names and revisions, devices, hook switches and the offline hub cache."""

from mechcirc.models.device import resolve_device, resolve_dtype
from mechcirc.models.hooks import enable_analysis_hooks
from mechcirc.models.loading import ModelSource, load_model, resolve_source
from mechcirc.models.names import PYTHIA_STEPS, SHORT_NAMES, normalize_revision, resolve_model_id
from mechcirc.models.offline_hub import TinyPythiaShape, build_offline_hub

__all__ = [
    "PYTHIA_STEPS",
    "SHORT_NAMES",
    "ModelSource",
    "TinyPythiaShape",
    "build_offline_hub",
    "enable_analysis_hooks",
    "load_model",
    "normalize_revision",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_id",
    "resolve_source",
]
