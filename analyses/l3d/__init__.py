"""L3D: local loss-landscape decomposition into sparse low-rank subnetworks (Chrisman et al. 2025).

Per-sample gradients of a divergence between a sample's output and another sample's (reference)
output are reconstructed from a few of ``n_v`` learned low-rank parameter directions. Pick the
parameters by name pattern, fit, then read impacts and intervene along a subnetwork.

Example:
    >>> from mechcirc.analyses import l3d
    >>> target, model = l3d.toy_target("tms", seed=0)                      # doctest: +SKIP
    >>> config = l3d.L3DConfig(n_subnetworks=5, rank=1, topk=0.1, steps=1000)  # doctest: +SKIP
    >>> state = l3d.decompose(target, config)                               # doctest: +SKIP
    >>> report = l3d.evaluate(target, state.subnetworks, config)            # doctest: +SKIP
"""

from mechcirc.analyses.l3d.builders import (
    random_tokens,
    task_tokens,
    text_tokens,
    token_target,
    toy_target,
)
from mechcirc.analyses.l3d.checkpoint import load_checkpoint, save_checkpoint
from mechcirc.analyses.l3d.gradients import (
    DIVERGENCES,
    flat_gradients,
    per_sample_gradients,
    reference_outputs,
)
from mechcirc.analyses.l3d.impact import activation_frequency, active_mask, impacts, top_samples
from mechcirc.analyses.l3d.interventions import intervention_curves, output_change
from mechcirc.analyses.l3d.parameters import ParameterGroup, available_names, select_parameters
from mechcirc.analyses.l3d.pipeline import Evaluation, decompose, evaluate, write_report
from mechcirc.analyses.l3d.planted import PlantedGradients, direction_recovery
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.targets import TokenTarget, VectorTarget
from mechcirc.analyses.l3d.toys import TOYS, ToySpec, get_toy, train_toy
from mechcirc.analyses.l3d.training import L3DConfig, L3DState, batch_topk_mask, fit

__all__ = [
    "DIVERGENCES",
    "TOYS",
    "Evaluation",
    "L3DConfig",
    "L3DState",
    "ParameterGroup",
    "PlantedGradients",
    "Subnetworks",
    "TokenTarget",
    "ToySpec",
    "VectorTarget",
    "activation_frequency",
    "active_mask",
    "available_names",
    "batch_topk_mask",
    "decompose",
    "direction_recovery",
    "evaluate",
    "fit",
    "flat_gradients",
    "get_toy",
    "impacts",
    "intervention_curves",
    "load_checkpoint",
    "output_change",
    "per_sample_gradients",
    "random_tokens",
    "reference_outputs",
    "save_checkpoint",
    "select_parameters",
    "task_tokens",
    "text_tokens",
    "token_target",
    "toy_target",
    "top_samples",
    "train_toy",
    "write_report",
]
