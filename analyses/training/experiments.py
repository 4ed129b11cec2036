"""The training experiments by name: config class and pipeline, and one way to run them.

``run_experiment(config, run=None)`` runs the experiment the config belongs to, exactly as
``mechcirc experiment NAME`` does (which only builds the config from flags, checks ``--out``
and opens the run folder). Every pipeline takes ``(config, run=None)`` and returns a typed
result with ``.metrics()``; with ``run=None`` nothing touches the disk.

Example:
    >>> config = experiment_config("grokking", preset="quick", overrides={"seed": 1})
    >>> run_experiment(config).metrics()["seed"]  # doctest: +SKIP
    1
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from mechcirc.config import Config, parse_assignments
from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder

__all__ = ["EXPERIMENTS", "Experiment", "experiment_config", "find_experiment", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    """Where an experiment's config class and pipeline live; ``resumable``: ``--resume`` works."""

    name: str
    module: str
    config: str
    pipeline: str
    resumable: bool = False

    def _member(self, name: str) -> Any:
        return getattr(import_module(f"mechcirc.analyses.training.{self.module}"), name)

    def config_class(self) -> type[Config]:
        return self._member(self.config)

    def run(self, config: Config, run: RunFolder | None = None, **options: Any):
        return self._member(self.pipeline)(config, run, **options)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("curriculum", "curriculum", "CurriculumConfig", "run_curriculum"),
        Experiment("grokking", "grokking", "GrokkingConfig", "run_grokking", resumable=True),
        Experiment("ungrokking", "ungrokking", "UngrokkingConfig", "run_ungrokking"),
        Experiment("semi-grokking", "semi_grokking", "SemiGrokkingConfig", "run_semi_grokking"),
        Experiment("efficiency", "efficiency", "EfficiencyConfig", "run_efficiency"),
    )
}


def find_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def experiment_config(
    name: str,
    *,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    assignments: list[str] = (),
) -> Config:
    """The experiment's config: a preset (default: the class defaults), then ``overrides``,
    then ``--set KEY=JSON`` ``assignments``, every value type-checked and validated."""
    cls = find_experiment(name).config_class()
    base = cls.preset(preset) if preset else cls()
    known = [key for key in base.to_dict() if key != "PRESETS"]
    changes = dict(overrides or {})
    for key in changes:
        if key not in known:
            raise UsageError(f"{key} does not apply to the {name} experiment")
    changes |= parse_assignments(assignments, known)
    return cls.from_dict({**base.to_dict(), **changes})


def run_experiment(config: Config, run: RunFolder | None = None, **options: Any):
    """Run the experiment ``config`` belongs to; its typed result."""
    for experiment in EXPERIMENTS.values():
        if type(config) is experiment.config_class():
            return experiment.run(config, run, **options)
    raise UsageError(f"{type(config).__name__} is not the config of a training experiment")
