"""Training dynamics on toy models: a resumable trainer, ``mechcirc train``'s pipeline, and the
curriculum (Odonnat et al.) and grokking / ungrokking / semi-grokking / efficiency (Varma et al.)
experiments.

Each experiment is a frozen config (paper-scale defaults, named ``PRESETS`` such as ``quick``)
and a pipeline ``run_<name>(config, run=None) -> result`` whose result has ``.metrics()``; with
``run=None`` nothing touches the disk. ``run_experiment(config, run=None)`` picks the pipeline
from the config; ``mechcirc experiment NAME --out DIR`` runs the same call into a run folder.

Example:
    >>> from mechcirc.analyses.training import GrokkingConfig, run_experiment
    >>> result = run_experiment(GrokkingConfig.preset("quick"))
    >>> result.metrics()["p"]
    11
"""

from mechcirc.analyses.training.curriculum import CurriculumConfig, run_curriculum
from mechcirc.analyses.training.efficiency import EfficiencyConfig, run_efficiency
from mechcirc.analyses.training.experiments import EXPERIMENTS, experiment_config, run_experiment
from mechcirc.analyses.training.grokking import (
    GrokkingConfig,
    grokked_model,
    run_grokking,
    transition,
)
from mechcirc.analyses.training.jobs import ToyTrainingConfig, run_training
from mechcirc.analyses.training.semi_grokking import SemiGrokkingConfig, run_semi_grokking
from mechcirc.analyses.training.ungrokking import UngrokkingConfig, run_ungrokking
from mechcirc.training import (
    IGNORE_INDEX,
    METRICS_FILE,
    TrainConfig,
    Trainer,
    learning_rate,
)

__all__ = [
    "EXPERIMENTS",
    "IGNORE_INDEX",
    "METRICS_FILE",
    "CurriculumConfig",
    "EfficiencyConfig",
    "GrokkingConfig",
    "SemiGrokkingConfig",
    "ToyTrainingConfig",
    "TrainConfig",
    "Trainer",
    "UngrokkingConfig",
    "experiment_config",
    "grokked_model",
    "learning_rate",
    "run_curriculum",
    "run_efficiency",
    "run_experiment",
    "run_grokking",
    "run_semi_grokking",
    "run_training",
    "run_ungrokking",
    "transition",
]
