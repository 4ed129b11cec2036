"""Arguments and steps that several subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def add_model_args(
    parser: argparse.ArgumentParser, *, required: bool = True, model_flag: bool = True
) -> None:
    """``--model``, ``--revision``, ``--device``, ``--dtype``, as every model-using command has.

    ``model_flag=False`` leaves out ``--model`` for commands that take the model positionally.
    """
    group = parser.add_argument_group("model")
    if model_flag:
        group.add_argument(
            "--model",
            "-m",
            required=required,
            help="short name (pythia-160m, gpt2; see `mechcirc models list`), "
            "hub id, local folder or .gguf file",
        )
    group.add_argument(
        "--revision",
        "-r",
        default=None,
        help="checkpoint: stepN or N for Pythia, or any hub branch/tag/commit",
    )
    group.add_argument(
        "--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps"
    )
    group.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def load_model_from_args(args: argparse.Namespace):
    """Load the model the ``add_model_args`` flags name."""
    from mechcirc.models.loading import load_model

    return load_model(args.model, args.revision, device=args.device, dtype=args.dtype)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def comma_list(text: str, cast: Callable[[str], T] = str, what: str = "values") -> tuple[T, ...]:
    """``"a, b,,c"`` -> ``(cast("a"), cast("b"), cast("c"))``; empty items are skipped.

    A bad item raises ``argparse.ArgumentTypeError`` naming ``what`` was expected, so
    ``type=lambda t: comma_list(t, int, "integers")`` gives a one-line usage error.
    """
    try:
        return tuple(cast(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from err
