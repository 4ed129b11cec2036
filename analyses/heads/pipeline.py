"""Head scores as one library call: ``head_scores(model, HeadScoresConfig(...), run=None)``.

Scores by name (``HeadScoresConfig.scores``):

- ``induction``, ``previous_token``, ``duplicate_token``: attention on repeated random tokens;
- ``copy``: the OV copy score from weights alone (Wang et al.; mechcirc's earlier default);
- ``context_copy``, ``negative_copy``: Tigges et al.'s in-context (negative) copy score on IOI
  prompts (copy heads: > 0.10);
- ``successor``: Gould et al.'s succession score on Tigges et al.'s sequences
  (``successor_definition="layer0"`` for the earlier variant);
- ``cspa``: full copy-suppression-preserving ablation (QK filter + OV projection) on natural
  text, the bundled public-domain corpus or ``text`` (copy-suppression heads: > 0.10);
  ``cspa_ov``: the earlier OV-only full-forward variant on repeated tokens;
- ``name_mover``: attention from the final token to IO, S1 and S2 separately on IOI prompts
  (``attn_io``, ``attn_s1``, ``attn_s2``) and their summary ``attn_io - attn_s1 - attn_s2``.

With ``run=None`` nothing touches the disk; with a run folder the table (CSV + Parquet), the
values (safetensors), the input data, per-score configs and a heatmap per score are written.

Example:
    >>> config = HeadScoresConfig(scores=("induction", "context_copy"), ioi_prompts=32)
    >>> result = head_scores(model, config)                # doctest: +SKIP
    >>> result.frame().sort_values("induction").tail(3)    # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mechcirc.config import Config, require_in, require_positive_int, require_range
from mechcirc.errors import UsageError
from mechcirc.measures import attention_scores as pattern_scores
from mechcirc.measures.context_copy import context_copy_scores
from mechcirc.measures.corpus import model_corpus_tokens
from mechcirc.measures.cspa import cspa_scores
from mechcirc.measures.cspa_full import cspa_full_scores
from mechcirc.measures.name_movers import name_mover_scores
from mechcirc.measures.ov_scores import SUCCESSOR_DEFINITIONS, copy_scores, successor_scores
from mechcirc.measures.result import HeadScore, scores_frame
from mechcirc.models.protocol import HookedModel
from mechcirc.runs import RunFolder
from mechcirc.tasks.pairs import PromptPairs
from mechcirc.tasks.registry import load_pairs

from .token_sets import ioi_name_tokens, successor_sequences

__all__ = [
    "DEFAULT_SCORES",
    "IOI_SCORES",
    "SCORE_NAMES",
    "HeadScores",
    "HeadScoresConfig",
    "head_scores",
]

log = logging.getLogger(__name__)

SCORE_NAMES = (
    *pattern_scores.PATTERN_SCORES,
    "copy",
    "context_copy",
    "negative_copy",
    "successor",
    "cspa",
    "cspa_ov",
    "name_mover",
)
DEFAULT_SCORES = ("induction", "previous_token", "duplicate_token", "copy", "successor")
IOI_SCORES = ("context_copy", "negative_copy", "name_mover")
SIGNED_SCORES = ("cspa", "cspa_ov", "name_mover")


@dataclass(frozen=True)
class HeadScoresConfig(Config):
    """Settings of :func:`head_scores`.

    Attributes:
        scores: score names (see the module docstring), in output order.
        half_len, n_sequences: the repeated random-token data (``[BOS] r r``, ``r`` of
            ``half_len`` tokens) of the attention scores and ``cspa_ov``.
        ioi_prompts: IOI prompt pairs for ``context_copy``, ``negative_copy``, ``name_mover``.
        successor_definition: ``gould`` (Gould et al.'s ``MLP0(W_E)`` circuit) or ``layer0``.
        cspa_seq_len, cspa_sequences: natural-text sequences CSPA scores (Tigges et al.: 61
            tokens x 17 sequences); the mean outputs use every sequence of the text.
        cspa_fraction: ``K_unembeddings``, the fraction of positions kept by the QK filter.
        text: a UTF-8 text file for CSPA instead of the bundled public-domain corpus.
        seed: seed of the random tokens and of the IOI prompts.
    """

    scores: tuple[str, ...] = DEFAULT_SCORES
    half_len: int = 20
    n_sequences: int = 32
    ioi_prompts: int = 64
    successor_definition: str = "gould"
    cspa_seq_len: int = 61
    cspa_sequences: int = 17
    cspa_fraction: float = 0.05
    text: str | None = None
    batch_size: int = 16
    seed: int = 0

    def validate(self) -> None:
        if not self.scores:
            raise UsageError(f"scores must name at least one of {', '.join(SCORE_NAMES)}")
        for name in self.scores:
            require_in("scores", name, SCORE_NAMES)
        if len(set(self.scores)) != len(self.scores):
            raise UsageError(f"scores must not repeat a name, got {list(self.scores)}")
        for name in ("n_sequences", "ioi_prompts", "cspa_sequences", "batch_size"):
            require_positive_int(name, getattr(self, name))
        if isinstance(self.half_len, bool) or not isinstance(self.half_len, int):
            raise UsageError(f"half_len must be an integer >= 2, got {self.half_len!r}")
        require_range("half_len", self.half_len, 2)
        require_range("cspa_seq_len", self.cspa_seq_len, 2)
        require_in("successor_definition", self.successor_definition, SUCCESSOR_DEFINITIONS)
        require_range("cspa_fraction", self.cspa_fraction, 0, 1, low_open=True)

    @classmethod
    def parse_scores(cls, text: str) -> tuple[str, ...]:
        """``"induction,copy"`` -> names (``-`` read as ``_``); ``"all"`` -> every score."""
        names = [n.strip().replace("-", "_") for n in text.split(",") if n.strip()]
        if names == ["all"]:
            return SCORE_NAMES
        unknown = [n for n in names if n not in SCORE_NAMES]
        if unknown or not names:
            raise UsageError(
                f"unknown head score(s) {unknown or text!r}: expected a comma-separated list of "
                f"{', '.join(SCORE_NAMES)} (or all)"
            )
        return tuple(dict.fromkeys(names))

    def positions_needed(self, bos: bool) -> int:
        """Token positions the longest requested input takes (for the model's context)."""
        needed = 2 * self.half_len + int(bos)
        if "cspa" in self.scores:
            needed = max(needed, self.cspa_seq_len)
        return needed


@dataclass(frozen=True)
class HeadScores:
    """The scores :func:`head_scores` computed, by name (one :class:`HeadScore` each)."""

    config: HeadScoresConfig
    scores: dict[str, HeadScore] = field(default_factory=dict)

    def frame(self):
        """One row per head (``layer``, ``head``), one column per score."""
        return scores_frame(list(self.scores.values()))

    def top(self, k: int = 3) -> dict[str, list[list]]:
        """The ``k`` best heads of each score as ``{name: [["a1.h0", value], ...]}``."""
        return {
            name: [[f"a{layer}.h{head}", value] for layer, head, value in score.top(k)]
            for name, score in self.scores.items()
        }

    def metrics(self) -> dict:
        return {"top_heads": self.top()}


def head_scores(
    model: HookedModel,
    config: HeadScoresConfig | None = None,
    run: RunFolder | None = None,
    *,
    pairs: PromptPairs | None = None,
    progress: bool = False,
) -> HeadScores:
    """Every score ``config.scores`` names, for every head of ``model`` (module docstring).

    ``pairs`` replaces the generated IOI prompts (they need IOI positions ``io``, ``s1``,
    ``s2``, ``end``). The model's hook switches are left as found.
    """
    config = config or HeadScoresConfig()
    wanted = set(config.scores)
    if wanted & set(IOI_SCORES) and pairs is None:
        pairs = load_pairs("ioi", model.tokenizer, n=config.ioi_prompts, seed=config.seed)
    found: dict[str, HeadScore] = {}
    for name, compute in _COMPUTERS.items():
        if wanted & set(name):
            log.info("head scores: %s", ", ".join(name))
            found.update(compute(model, config, pairs, progress))
    ordered = {name: found[name] for name in config.scores}
    # The parts of the name-mover test follow the requested scores.
    ordered.update({k: v for k, v in found.items() if k.startswith("attn_")})
    result = HeadScores(config, ordered)
    if run is not None:
        _write(run, result)
    return result


def _patterns(model, config, pairs, progress):
    data = pattern_scores.RepeatedTokens(config.half_len, config.n_sequences, config.seed)
    return pattern_scores.attention_scores(
        model, data, batch_size=config.batch_size, progress=progress
    )


def _copy(model, config, pairs, progress):
    return {"copy": copy_scores(model, ioi_name_tokens(model.tokenizer))}


def _context_copy(model, config, pairs, progress):
    found = {}
    for negative in (False, True):
        score = context_copy_scores(
            model, pairs.clean, pairs.positions, negative=negative, batch_size=config.batch_size
        )
        found[score.name] = score
    return found


def _successor(model, config, pairs, progress):
    sequences = successor_sequences(model.tokenizer)
    return {"successor": successor_scores(model, sequences, definition=config.successor_definition)}


def _cspa(model, config, pairs, progress):
    tokens = model_corpus_tokens(model, config.text, seq_len=config.cspa_seq_len)
    score = cspa_full_scores(
        model,
        tokens[: config.cspa_sequences],
        mean_tokens=tokens,
        fraction=config.cspa_fraction,
        batch_size=max(1, config.batch_size // 4),
    )
    return {"cspa": score}


def _cspa_ov(model, config, pairs, progress):
    data = pattern_scores.RepeatedTokens(config.half_len, config.n_sequences, config.seed)
    score = cspa_scores(model, data=data, batch_size=config.batch_size, progress=progress)
    return {"cspa_ov": HeadScore("cspa_ov", score.values, score.inputs, score.config)}


def _name_movers(model, config, pairs, progress):
    return name_mover_scores(model, pairs.clean, pairs.positions, batch_size=config.batch_size)


# the scores each computer produces -> the computer
_COMPUTERS = {
    pattern_scores.PATTERN_SCORES: _patterns,
    ("copy",): _copy,
    ("context_copy", "negative_copy"): _context_copy,
    ("successor",): _successor,
    ("cspa",): _cspa,
    ("cspa_ov",): _cspa_ov,
    ("name_mover",): _name_movers,
}


def _write(run: RunFolder, result: HeadScores, stem: str = "head_scores") -> None:
    """Table (CSV + Parquet + safetensors), input data, per-score configs, heatmaps."""
    from mechcirc.views import save_heatmap

    frame = result.frame()
    frame.to_csv(run.file(f"{stem}.csv"), index=False)
    run.save_table(f"{stem}.parquet", frame)
    scores = list(result.scores.values())
    run.save_tensors(f"{stem}.safetensors", {s.name: s.values for s in scores})
    inputs, seen = {}, set()
    for score in scores:
        for key, tensor in score.inputs.items():
            if id(tensor) not in seen:
                seen.add(id(tensor))
                inputs[f"{score.name}.{key}"] = tensor.contiguous()
    run.save_tensors(f"{stem}_inputs.safetensors", inputs)
    for score in scores:
        # Fractions and attention masses share one 0..1 colour scale; the others are signed.
        limits = None if score.name in SIGNED_SCORES else (0.0, 1.0)
        heatmap = run.path / "heatmaps" / score.name
        heatmap.parent.mkdir(parents=True, exist_ok=True)
        for path in save_heatmap(score.values, heatmap, title=score.name, limits=limits):
            run.file(f"heatmaps/{path.name}")
    run.save_json(f"{stem}_config.json", {s.name: s.config for s in scores})
    run.update(metrics=result.metrics())
