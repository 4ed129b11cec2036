"""Settings of the IOI component analysis (Tigges et al. 2024, Sec. 4.1 and Fig. 4)."""

from __future__ import annotations

from dataclasses import dataclass

from mechcirc.config import Config, require_positive_int, require_range

__all__ = ["ROLES", "SHARE_ROLES", "IOIComponentsConfig"]

ROLES = (
    "name_mover",
    "negative_name_mover",
    "copy_suppression",
    "s_inhibition",
    "induction",
    "duplicate_token",
)
# consistency_frame roles: the three direct-effect classes, their union ("direct", Fig. 4B),
# S-inhibition (4C), induction and duplicate-token heads and their union (4D)
SHARE_ROLES = (
    "name_mover",
    "negative_name_mover",
    "copy_suppression",
    "direct",
    "s_inhibition",
    "induction",
    "duplicate_token",
    "induction_duplicate",
)


@dataclass(frozen=True)
class IOIComponentsConfig(Config):
    """Thresholds and data of :func:`run_ioi_components` (defaults are Tigges et al.'s).

    Attributes:
        n_prompts, seed: the IOI prompt pairs (corruption ``abc``) the CLI and the sweep
            generate (a notebook passes its own pairs).
        copy_threshold: (negative) in-context copy score above which a head copies (10%).
        cspa_threshold: CSPA score above which a head suppresses copies (0.10).
        cspa_effect: CSPA is computed for heads outside layer 0 whose direct effect
            ``|(patched - clean) / (clean - corrupted)|`` exceeds this (0.01).
        path_threshold: S-inhibition and induction / duplicate-token senders need a
            normalized path effect below ``-path_threshold`` (0.001).
        cspa_seq_len, cspa_sequences, cspa_fraction, text: CSPA's natural-text data.
        half_len, n_sequences: repeated random tokens of the induction and duplicate scores.
    """

    n_prompts: int = 64
    seed: int = 0
    copy_threshold: float = 0.10
    cspa_threshold: float = 0.10
    cspa_effect: float = 0.01
    path_threshold: float = 0.001
    cspa_seq_len: int = 61
    cspa_sequences: int = 17
    cspa_fraction: float = 0.05
    text: str | None = None
    half_len: int = 50
    n_sequences: int = 8
    batch_size: int = 16

    PRESETS = {"quick": {"n_prompts": 16, "cspa_sequences": 4, "half_len": 10, "n_sequences": 4}}

    def validate(self) -> None:
        for name in ("n_prompts", "cspa_sequences", "n_sequences", "batch_size"):
            require_positive_int(name, getattr(self, name))
        for name in ("copy_threshold", "cspa_threshold", "cspa_effect", "path_threshold"):
            require_range(name, getattr(self, name), 0, 1)
        require_range("cspa_fraction", self.cspa_fraction, 0, 1, low_open=True)
        require_range("cspa_seq_len", self.cspa_seq_len, 2)
        require_range("half_len", self.half_len, 2)
