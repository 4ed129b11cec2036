"""What the built-in micro-Pythia is: its shape, vocabulary, checkpoint steps and training record.

The model ships in ``mechcirc/data/micro-pythia/`` as ``micro-pythia.json`` (this spec),
``checkpoints.safetensors`` (the weights of every checkpoint, float16, with only the rows of the
vocabulary its corpus uses) and ``text.txt`` (held-out text of its corpus, its natural text).
This module reads and writes the spec with nothing but ``json``, so that revision checks
(``mechcirc.models.names``) stay light; ``mechcirc.models.micro_pythia`` handles the weights.

Example:
    >>> spec = load_spec()
    >>> spec.steps[0], spec.model_id
    (0, 'mechcirc/micro-pythia')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from mechcirc.errors import ModelLoadError
from mechcirc.models.pythia_shape import TinyPythiaShape

__all__ = [
    "CHECKPOINTS_FILE",
    "FORMAT_VERSION",
    "MICRO_PYTHIA_ID",
    "MicroPythiaSpec",
    "SPEC_FILE",
    "TEXT_FILE",
    "load_spec",
    "shipped_folder",
]

MICRO_PYTHIA_ID = "mechcirc/micro-pythia"
SPEC_FILE = "micro-pythia.json"
CHECKPOINTS_FILE = "checkpoints.safetensors"
TEXT_FILE = "text.txt"  # held-out text of its corpus: its natural text (CSPA)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class MicroPythiaSpec:
    """The shipped micro-Pythia: everything but the weights.

    Attributes:
        shape: layers, heads, widths (Pythia's architecture, see ``TinyPythiaShape``).
        token_ids: the vocabulary the corpus uses, sorted; row ``i`` of the shipped
            (un)embedding is token ``token_ids[i]`` of the full 50,304-row vocabulary.
        steps: the checkpoint steps, ascending; revision ``step{N}`` for each.
        reserved_dim: the residual dimension the final layer norm holds at 1 (weight 0,
            bias 1); every unused token's unembedding is ``unused_logit`` there, 0 elsewhere,
            so unused tokens get the logit ``unused_logit`` at every position.
        unused_logit: that logit (negative, e.g. -30).
        training: the training settings, as recorded by the trainer (seed, corpus, optimiser).
        checkpoints_sha256: SHA-256 of ``checkpoints.safetensors`` (the retrain check).
    """

    shape: TinyPythiaShape
    token_ids: tuple[int, ...]
    steps: tuple[int, ...]
    reserved_dim: int
    unused_logit: float
    training: dict = field(default_factory=dict)
    checkpoints_sha256: str = ""
    model_id: str = MICRO_PYTHIA_ID

    def to_json(self) -> str:
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> MicroPythiaSpec:
        data = json.loads(text)
        version = data.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f"micro-Pythia spec has format version {version}, this mechcirc reads "
                f"{FORMAT_VERSION}: retrain it with `mechcirc models train-micro`"
            )
        return cls(
            shape=TinyPythiaShape(**data.pop("shape")),
            token_ids=tuple(data.pop("token_ids")),
            steps=tuple(data.pop("steps")),
            **data,
        )

    def revisions(self) -> tuple[str, ...]:
        """``("step0", ...)``: the hub revision of every checkpoint."""
        return tuple(f"step{step}" for step in self.steps)


def shipped_folder() -> Path:
    """``mechcirc/data/micro-pythia``: where the shipped spec and weights live."""
    return Path(str(resources.files("mechcirc") / "data" / "micro-pythia"))


def load_spec(folder: str | Path | None = None) -> MicroPythiaSpec:
    """The spec in ``folder`` (default: the shipped one)."""
    path = Path(folder or shipped_folder()) / SPEC_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"no micro-Pythia spec at {path}: expected a folder written by "
            "`mechcirc models train-micro`"
        )
    return MicroPythiaSpec.from_json(path.read_text())
