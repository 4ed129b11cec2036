"""Arguments and steps that several subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "TEXT_HELP",
    "add_model_args",
    "add_out_args",
    "comma_list",
    "finite_float",
    "load_model_from_args",
    "model_run",
    "model_spec_from_args",
    "positive_int",
    "recorded_inputs",
]

T = TypeVar("T")

TEXT_HELP = "UTF-8 text file for CSPA (default: the bundled English corpus; micro-pythia: its own)"


def add_model_args(
    parser: argparse.ArgumentParser, *, required: bool = True, model_flag: bool = True
) -> None:
    """``--model``, ``--revision``, ``--device``, ``--dtype``, ``--allow-bin``, as every
    model-using command has.

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
    group.add_argument(
        "--allow-bin",
        action="store_true",
        help="load a checkpoint that has only pytorch_model.bin (a pickle) with "
        "torch.load(weights_only=True); refused by default",
    )


def load_model_from_args(args: argparse.Namespace):
    """Load the model the ``add_model_args`` flags name."""
    return model_spec_from_args(args).load()


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


def add_out_args(parser: argparse.ArgumentParser, default: str) -> None:
    """``--out`` and ``--overwrite``, as every command that writes a run folder has."""
    parser.add_argument("--out", default=None, help=f"run folder (default {default})")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the contents of a non-empty --out (refused otherwise)",
    )


def model_spec_from_args(args: argparse.Namespace):
    """The :class:`~mechcirc.models.spec.ModelSpec` the ``add_model_args`` flags name."""
    from mechcirc.models.spec import ModelSpec

    return ModelSpec(
        args.model,
        revision=args.revision,
        device=args.device,
        dtype=args.dtype,
        allow_bin=args.allow_bin,
    )


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    import math

    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


@contextmanager
def model_run(
    out: str | Path,
    command: str,
    config: Any,
    inputs: dict[str, Any],
    *,
    seed: int | None,
    overwrite: bool = False,
) -> Iterator[tuple[Any, Any]]:
    """``(run, model)`` for a command that analyses ``inputs["model"]``: the run folder is
    created with the config and every input's spec, and the model is loaded inside it (so a
    failed load marks the run failed) and recorded in its manifest. ``--out`` is checked by
    the caller, before this, with :func:`mechcirc.runs.prepare_out_dir`."""
    from mechcirc.models.summary import describe_model
    from mechcirc.runs import RunFolder

    with RunFolder.create(
        out,
        command=command,
        config=config.to_dict(),
        inputs={key: spec.to_dict() for key, spec in inputs.items()},
        seed=seed,
        overwrite=overwrite,
    ) as run:
        model = inputs["model"].load()
        run.update(model=describe_model(model))
        yield run, model


def recorded_inputs(manifest: dict) -> dict[str, Any]:
    """The model and task specs a manifest's ``inputs`` record, as ``execute`` takes them."""
    from mechcirc.models.spec import ModelSpec
    from mechcirc.tasks.spec import TaskSpec

    kinds = {"model": ModelSpec, "task": TaskSpec}
    recorded = manifest["inputs"]
    return {key: kind.from_dict(recorded[key]) for key, kind in kinds.items() if key in recorded}
