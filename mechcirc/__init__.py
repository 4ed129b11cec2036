"""mechcirc: mechanistic interpretability on TransformerLens 4.

Heavy imports (torch, TransformerLens) happen on first use, so the CLI starts fast.

Example:
    >>> import mechcirc
    >>> model = mechcirc.load_model("pythia-160m", revision="step143000")  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from mechcirc.errors import MechcircError, ModelLoadError, UsageError
from mechcirc.lazy import lazy_attributes

try:
    __version__ = version("mechcirc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "load_model": "mechcirc.models.loading",
    "enable_analysis_hooks": "mechcirc.models.hooks",
    "build_offline_hub": "mechcirc.models.offline_hub",
}

__all__ = [
    "MechcircError",
    "ModelLoadError",
    "UsageError",
    "__version__",
    *_LAZY,
]

__getattr__ = lazy_attributes("mechcirc", _LAZY)
