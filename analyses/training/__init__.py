"""Training dynamics on toy models: a resumable trainer and the curriculum (Odonnat et al.) and
grokking / ungrokking / semi-grokking / efficiency (Varma et al.) experiments.

Each experiment is ``run_<name>(config, run_folder) -> summary`` with a config dataclass that has
paper-scale defaults and a ``quick()`` variant; ``mechcirc experiment NAME --out DIR`` runs it.
"""

from mechcirc.analyses.training.curriculum import CurriculumConfig, run_curriculum
from mechcirc.analyses.training.efficiency import EfficiencyConfig, run_efficiency
from mechcirc.analyses.training.grokking import (
    GrokkingConfig,
    SemiGrokkingConfig,
    UngrokkingConfig,
    run_grokking,
    run_semi_grokking,
    run_ungrokking,
    transition,
)
from mechcirc.training import (
    IGNORE_INDEX,
    METRICS_FILE,
    TrainConfig,
    Trainer,
    learning_rate,
)

__all__ = [
    "IGNORE_INDEX",
    "METRICS_FILE",
    "CurriculumConfig",
    "EfficiencyConfig",
    "GrokkingConfig",
    "SemiGrokkingConfig",
    "TrainConfig",
    "Trainer",
    "UngrokkingConfig",
    "learning_rate",
    "run_curriculum",
    "run_efficiency",
    "run_grokking",
    "run_semi_grokking",
    "run_ungrokking",
    "transition",
]
