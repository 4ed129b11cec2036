"""What a sweep computes (``SweepPlan``) and how this invocation runs it (``SweepOptions``).

The plan fixes the results: models, their revisions, tasks, analyses and every analysis setting.
It is recorded in ``sweep.json``; rerunning into the same folder must give the same plan (done
units are then skipped). The options only say how units are executed (engine, workers, device,
retries), so a sweep started on one engine can be finished on another.

Every revision is checked against every model's checkpoint schedule when the plan is built, so a
typo fails in milliseconds, before any unit runs.

Example:
    >>> plan = build_plan(models=["pythia-70m"], revisions="step0,step143000", tasks=["ioi"])
    >>> [unit.revision for unit in plan.units()]
    ['step0', 'step143000']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechcirc.config import Config, require_in, require_positive_int, require_range
from mechcirc.errors import MechcircError, UsageError
from mechcirc.models.names import resolve_model_id
from mechcirc.models.schedules import expand_revisions, revision_step, tokens_per_step
from mechcirc.models.spec import DTYPES
from mechcirc.tasks.registry import prompt_pair_task

__all__ = [
    "DEFAULT_ANALYSES",
    "DEFAULT_HEAD_SCORES",
    "EXECUTORS",
    "SweepOptions",
    "SweepPlan",
    "Unit",
    "build_plan",
    "task_label",
]

DEFAULT_ANALYSES = ("behaviour", "eap", "heads")
DEFAULT_HEAD_SCORES = ("induction", "previous_token", "duplicate_token", "copy", "successor")
EXECUTORS = ("local", "ray", "slurm")


@dataclass(frozen=True, order=True)
class Unit:
    """One unit of work: a model at one revision (loaded once; every task and analysis runs)."""

    model: str
    revision: str
    step: int | None = field(default=None, compare=False)

    @property
    def folder(self) -> str:
        """``units/<model>/<revision>`` relative to the sweep folder (``/`` -> ``--``)."""
        return f"units/{self.model.replace('/', '--')}/{self.revision}"

    @property
    def label(self) -> str:
        return f"{self.model}@{self.revision}"


@dataclass(frozen=True)
class SweepPlan(Config):
    """Everything that decides a sweep's results (recorded as ``sweep.json``'s ``plan``).

    Attributes:
        models: short names or hub ids, as given (``pythia-70m``).
        revisions: each model's revisions, sorted by step.
        tasks / analyses: prompt-pair tasks and registered sweep analyses, in order.
        n / seed: prompt pairs per task and their seed (identical for every unit).
        ig_steps, method, criterion, target, search_step, search_cap: the EAP settings (the
            default is the paper's: fraction of clean >= 0.8 in 25-edge steps up to 1600).
        head_scores: the head scores of the ``heads`` analysis.
        edges_top_k: edges kept per unit and task in ``edges.parquet`` beside the circuit's.
        attention_heads / attention_prompts: heads and prompts of ``attention.json``.
        tokens_per_step: per model, to turn steps into training tokens.
    """

    models: tuple[str, ...]
    revisions: dict[str, list[str]]
    tasks: tuple[str, ...] = ("ioi",)
    analyses: tuple[str, ...] = DEFAULT_ANALYSES
    n: int = 70
    seed: int = 0
    ig_steps: int = 5
    method: str = "eap-ig-inputs"
    criterion: str = "fraction-of-clean"
    target: float = 0.8
    search_step: int = 25
    search_cap: int = 1600
    batch_size: int = 32
    dtype: str = "float32"
    head_scores: tuple[str, ...] = DEFAULT_HEAD_SCORES
    edges_top_k: int = 2000
    attention_heads: int = 6
    attention_prompts: int = 4
    tokens_per_step: dict[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.models:
            raise UsageError("a sweep needs at least one model (--models pythia-70m,...)")
        if len(set(self.models)) != len(self.models):
            raise UsageError(f"models are listed twice: {', '.join(self.models)}")
        missing = [m for m in self.models if not self.revisions.get(m)]
        if missing:
            raise UsageError(f"no revisions for model(s) {', '.join(missing)}")
        if not self.tasks or not self.analyses:
            raise UsageError("a sweep needs at least one task and one analysis")
        for name in ("n", "ig_steps", "search_step", "search_cap", "batch_size", "edges_top_k"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("attention_heads", self.attention_heads)
        require_range("attention_prompts", self.attention_prompts, 1, 4)
        require_in("dtype", self.dtype, DTYPES)

    def units(self) -> list[Unit]:
        """Every unit, model by model, each model's revisions in step order."""
        return [
            Unit(model, revision, revision_step(revision))
            for model in self.models
            for revision in self.revisions[model]
        ]

    def final_revision(self, model: str) -> str:
        """The model's last revision in the plan (its final checkpoint here)."""
        return self.revisions[model][-1]

    def tokens(self, model: str, step: int | None) -> int:
        """Training tokens seen at ``step`` (-1 for a revision that is not a step)."""
        return -1 if step is None else step * self.tokens_per_step.get(model, 1)


@dataclass(frozen=True)
class SweepOptions(Config):
    """How units run in this invocation; changing them never changes a result.

    Attributes:
        executor: ``local`` (in-process, or ``workers`` processes), ``ray`` or ``slurm``.
        threads: torch CPU threads in each worker (None: torch's default).
        ray_address: join a Ray cluster (``auto`` or ``HOST:PORT``); None starts Ray locally.
        gpus_per_unit: GPUs each Ray task / Slurm job asks for.
        slurm_partition / slurm_time_min / slurm_array_parallelism: Slurm job settings;
            ``slurm_cluster="local"`` runs the jobs through submitit's local executor.
        retry_failed: redo failed units (otherwise they are skipped and counted).
        delete_downloaded: delete a revision from the hub cache once its unit is done, if this
            sweep downloaded it.
    """

    executor: str = "local"
    workers: int = 1
    device: str = "auto"
    threads: int | None = None
    ray_address: str | None = None
    gpus_per_unit: float = 0.0
    slurm_partition: str | None = None
    slurm_time_min: int = 60
    slurm_array_parallelism: int = 16
    slurm_cluster: str | None = None
    retry_failed: bool = False
    delete_downloaded: bool = False

    def validate(self) -> None:
        require_in("executor", self.executor, EXECUTORS)
        require_positive_int("workers", self.workers)
        require_positive_int("threads", self.threads, allow_none=True)
        require_range("gpus_per_unit", self.gpus_per_unit, 0)
        require_positive_int("slurm_time_min", self.slurm_time_min)
        require_positive_int("slurm_array_parallelism", self.slurm_array_parallelism)
        require_in("slurm_cluster", self.slurm_cluster, (None, "slurm", "local", "debug"))
        if self.workers > 1 and self.executor != "local":
            raise UsageError("--workers applies to the local executor; ray and slurm scale out")


def build_plan(
    *, models: list[str] | tuple[str, ...], revisions: str | dict[str, str], **settings: Any
) -> SweepPlan:
    """A checked plan: models resolved, ``revisions`` (one spec for every model, or a spec per
    model) expanded and validated against each model's schedule, tasks and analyses known.

    Raises:
        UsageError: naming the model, revision, task or analysis that is not allowed.
    """
    from mechcirc.sweep.registry import check_analyses

    models = tuple(models)
    specs = revisions if isinstance(revisions, dict) else dict.fromkeys(models, revisions)
    expanded, per_step = {}, {}
    for model in models:
        model_id = _model_id(model)
        if model not in specs:
            raise UsageError(f"no revisions given for model {model!r}")
        expanded[model] = [r.name for r in expand_revisions(specs[model], model_id)]
        per_step[model] = tokens_per_step(model_id) or 1
    for task in settings.get("tasks", SweepPlan.tasks):
        prompt_pair_task(task)
    plan = SweepPlan(models=models, revisions=expanded, tokens_per_step=per_step, **settings)
    check_analyses(plan)
    return plan


def task_label(task: str) -> str:
    """A task's name in tables and folder names: the name, or a CSV file's stem."""
    return Path(task).stem if task.lower().endswith(".csv") else task


def _model_id(model: str) -> str:
    try:
        return resolve_model_id(model)
    except MechcircError as err:
        raise UsageError(str(err)) from err
