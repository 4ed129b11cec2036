"""The analyses, one subpackage each, and their main verbs here (imported on first use).

Every analysis follows one pattern: a frozen config dataclass (validated, JSON round-trip,
named presets), a pipeline ``verb(model or data, config, run=None) -> typed result`` that
touches the disk only when given a :class:`mechcirc.runs.RunFolder`, and a CLI command that
maps flags to the config and calls the pipeline. Progress bars are on by default in the long
pipelines (``find_circuit``, ``decompose``) and off in the quick measurements (behaviour, head
scores, path patching, components); every pipeline takes ``progress=`` to choose. Batch sizes
are config fields with documented defaults.

Example:
    >>> from mechcirc import load_model, tasks
    >>> from mechcirc.analyses import EAPConfig, find_circuit
    >>> model = load_model("pythia-160m", revision="step143000")           # doctest: +SKIP
    >>> pairs = tasks.load_pairs("ioi", model.tokenizer, n=64)            # doctest: +SKIP
    >>> found = find_circuit(model, pairs, EAPConfig(method="eap-ig-inputs"))  # doctest: +SKIP
    >>> found.metrics()["n_edges"]                                         # doctest: +SKIP
"""

from mechcirc.lazy import lazy_attributes

_LAZY = {
    # behaviour: the task metric on clean and corrupted prompts
    "BehaviourConfig": "mechcirc.analyses.behaviour",
    "measure_behaviour": "mechcirc.analyses.behaviour",
    # edge attribution patching and circuit search
    "EAPConfig": "mechcirc.analyses.eap",
    "attribute": "mechcirc.analyses.eap",
    "find_circuit": "mechcirc.analyses.eap",
    "FaithfulnessEvaluator": "mechcirc.analyses.eap",
    "smallest_circuit": "mechcirc.analyses.eap",
    # attention-head functional scores
    "HeadScoresConfig": "mechcirc.analyses.heads",
    "head_scores": "mechcirc.analyses.heads",
    # path patching
    "PathPatchConfig": "mechcirc.analyses.path_patching",
    "path_patch": "mechcirc.analyses.path_patching",
    # IOI components (Tigges et al.'s algorithm consistency)
    "IOIComponentsConfig": "mechcirc.analyses.components",
    "run_ioi_components": "mechcirc.analyses.components",
    # L3D loss-landscape decomposition
    "L3DConfig": "mechcirc.analyses.l3d",
    "decompose": "mechcirc.analyses.l3d",
    "intervention_curves": "mechcirc.analyses.l3d",
    # training experiments (grokking, curriculum)
    "GrokkingConfig": "mechcirc.analyses.training",
    "CurriculumConfig": "mechcirc.analyses.training",
    "run_grokking": "mechcirc.analyses.training",
    "run_curriculum": "mechcirc.analyses.training",
    "run_experiment": "mechcirc.analyses.training",
    # the built-in micro-Pythia
    "train_micro_pythia": "mechcirc.analyses.micro_pythia",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_attributes("mechcirc.analyses", _LAZY)


def __dir__() -> list[str]:
    return __all__
