"""L3D: local loss-landscape decomposition into sparse low-rank subnetworks (Chrisman et al. 2025).

Per-sample gradients of a divergence between a sample's output and another sample's (reference)
output are reconstructed from a few of ``n_v`` learned low-rank parameter directions. Pick the
parameters by name pattern, decompose, then read impacts, top samples and most-affected logits,
and intervene along a subnetwork.

Example:
    >>> from mechcirc.analyses import l3d
    >>> inputs = l3d.ToyInputs("circuit-superposition", seed=0,
    ...                        training=l3d.ToyTrainingConfig.preset("paper"))  # doctest: +SKIP
    >>> target, model = l3d.toy_target(inputs)                                # doctest: +SKIP
    >>> result = l3d.decompose(target, l3d.L3DConfig.preset("paper"))         # doctest: +SKIP
    >>> result.loss, result.dead                                               # doctest: +SKIP

Several seeds of one toy at once (each result equal to its own run to float rounding):
``l3d.toy_targets([...])`` trains them together, ``l3d.decompose_members(targets, configs)``
fits them together.
"""

from mechcirc.analyses.l3d.builders import (
    TokenData,
    ToyInputs,
    token_target,
    toy_target,
    toy_targets,
)
from mechcirc.analyses.l3d.checkpoint import check_resumable, load_subnetworks
from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.interventions import (
    intervention_curves,
    output_change,
    perturbed_outputs,
)
from mechcirc.analyses.l3d.logits import most_affected_logits
from mechcirc.analyses.l3d.members import fit_members
from mechcirc.analyses.l3d.parameters import available_names, select_parameters
from mechcirc.analyses.l3d.pipeline import CHECKPOINT, Decomposition, decompose, decompose_members
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.targets import TokenTarget, VectorTarget
from mechcirc.analyses.l3d.toy_training import ToyTrainingConfig, train_toy, train_toys
from mechcirc.analyses.l3d.toys import TOYS, ToySpec, get_toy

__all__ = [
    "CHECKPOINT",
    "TOYS",
    "Decomposition",
    "L3DConfig",
    "Subnetworks",
    "TokenData",
    "TokenTarget",
    "ToyInputs",
    "ToySpec",
    "ToyTrainingConfig",
    "VectorTarget",
    "available_names",
    "check_resumable",
    "decompose",
    "decompose_members",
    "fit_members",
    "get_toy",
    "intervention_curves",
    "load_subnetworks",
    "most_affected_logits",
    "output_change",
    "perturbed_outputs",
    "select_parameters",
    "token_target",
    "toy_target",
    "toy_targets",
    "train_toy",
    "train_toys",
]
