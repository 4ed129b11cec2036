"""Path patching (imported as ``mechcirc.analyses.path_patching``).

Example:
    >>> from mechcirc.analyses.path_patching import PathPatchConfig, path_patch
    >>> result = path_patch(model, pairs, PathPatchConfig(receivers=("logits",)))  # doctest: +SKIP
"""

from mechcirc.analyses.path_patching.pipeline import (
    PathPatchConfig,
    PathPatchResult,
    path_patch,
    s_inhibition_to_name_movers,
)

__all__ = ["PathPatchConfig", "PathPatchResult", "path_patch", "s_inhibition_to_name_movers"]
