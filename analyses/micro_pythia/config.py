"""The training recipe of the built-in micro-Pythia: shape, corpus mix, optimiser, schedule.

The defaults are the recipe of the shipped weights (``mechcirc/data/micro-pythia``): retraining
with ``MicroPythiaConfig()`` reproduces them bit for bit on a CPU with one thread.

Example:
    >>> config = MicroPythiaConfig()
    >>> config.schedule()[:6], config.reserved_dim == config.shape.d_model - 1
    ((0, 25, 50, 100, 200, 300), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mechcirc.errors import UsageError
from mechcirc.models.pythia_shape import TinyPythiaShape

__all__ = ["DEFAULT_MIX", "LINEAR_STEPS", "LOG_STEPS", "MicroPythiaConfig"]

# Examples per corpus part. Each task example is the generator's clean prompt followed by one of
# its correct answers; "induction" rows are [BOS] r r with r random corpus tokens.
DEFAULT_MIX: tuple[tuple[str, int], ...] = (
    ("ioi", 12000),
    ("greater-than", 6000),
    ("gendered-pronoun", 3000),
    ("subject-verb-agreement", 8000),
    ("induction", 16000),
)
# Pythia-like: step 0, log-spaced early steps, then a checkpoint every 100 steps.
LOG_STEPS = (0, 25, 50, 100, 200)
LINEAR_STEPS = tuple(range(300, 2801, 100))


def _shape() -> TinyPythiaShape:
    return TinyPythiaShape(n_layers=4, n_heads=3, d_model=96, d_mlp=384, n_ctx=256)


@dataclass(frozen=True)
class MicroPythiaConfig:
    """How the micro-Pythia is trained (see the module docstring).

    Attributes:
        seed: initialisation and mini-batch order.
        corpus_seed: the task generators use ``corpus_seed + k`` for part ``k`` of ``mix``
            (evaluations use other seeds, e.g. the CLI's default 0).
        mix: (part, number of examples) pairs; parts are task names or ``induction``.
        induction_half_len: range (inclusive) of the repeated half's length.
        n_test: rows held out of training (the trainer's test loss).
        steps: checkpoint steps (the last is the end of training).
        unused_logit: logit of every token the corpus never uses (on the reserved dimension).
    """

    seed: int = 0
    corpus_seed: int = 1000
    shape: TinyPythiaShape = field(default_factory=_shape)
    mix: tuple[tuple[str, int], ...] = DEFAULT_MIX
    induction_half_len: tuple[int, int] = (5, 20)
    n_test: int = 1000
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    batch_size: int = 64
    steps: tuple[int, ...] = LOG_STEPS + LINEAR_STEPS
    unused_logit: float = -30.0
    eval_limit: int = 500

    def __post_init__(self) -> None:
        if list(self.steps) != sorted(set(self.steps)) or not self.steps or self.steps[0] != 0:
            raise UsageError(f"steps must be ascending, distinct and start at 0, got {self.steps}")
        low, high = self.induction_half_len
        if not 2 <= low <= high:
            raise UsageError(f"induction_half_len must be 2 <= low <= high, got {low, high}")
        if self.unused_logit >= 0:
            raise UsageError(f"unused_logit must be negative, got {self.unused_logit}")

    @property
    def reserved_dim(self) -> int:
        """The residual dimension the final layer norm holds at 1 (the last one)."""
        return self.shape.d_model - 1

    def schedule(self, until: int | None = None) -> tuple[int, ...]:
        """Checkpoint steps up to ``until`` (default: all)."""
        return tuple(step for step in self.steps if until is None or step <= until)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MicroPythiaConfig:
        data = dict(data)
        return cls(
            shape=TinyPythiaShape(**data.pop("shape")),
            mix=tuple((name, int(n)) for name, n in data.pop("mix")),
            induction_half_len=tuple(data.pop("induction_half_len")),
            betas=tuple(data.pop("betas")),
            steps=tuple(data.pop("steps")),
            **data,
        )
