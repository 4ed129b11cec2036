"""The errors mechcirc raises on purpose, and the exit code the CLI maps each to.

Every message names what was wrong and what is allowed, so the CLI can print it as one line.
"""

from __future__ import annotations

__all__ = ["Interrupted", "MechcircError", "ModelLoadError", "UsageError"]


class MechcircError(Exception):
    """A runtime failure with a message meant for the user (CLI exit code 1)."""

    exit_code = 1


class UsageError(MechcircError, ValueError):
    """Bad input: an argument, file or value the caller can fix (CLI exit code 2)."""

    exit_code = 2


class ModelLoadError(MechcircError):
    """A model, revision or tokenizer could not be resolved or loaded (CLI exit code 1)."""


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM); run folders record it as ``interrupted``."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name
