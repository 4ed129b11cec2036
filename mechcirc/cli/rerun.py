"""``mechcirc rerun RUN_DIR [--out NEW]``: run a recorded run again from its manifest.

The manifest's ``config`` and ``inputs`` rebuild the same typed configs the original command
built, so the new run computes the same thing (same seed; on CPU, the same numbers).
"""

from __future__ import annotations

import argparse
from importlib import import_module
from pathlib import Path

from mechcirc.cli.common import add_out_args

__all__ = ["RERUNNABLE", "register"]

# manifest "command" -> the CLI module whose rerun(manifest, out, overwrite=) runs it again
RERUNNABLE = {
    "eap": "mechcirc.cli.eap",
    "heads": "mechcirc.cli.heads",
    "path-patch": "mechcirc.cli.path_patch",
    "components": "mechcirc.cli.components",
    "l3d": "mechcirc.cli.l3d",
    **{f"train {toy}": "mechcirc.cli.train" for toy in ("cross-attention", "grokking")},
    **{
        f"experiment {name}": "mechcirc.cli.experiment"
        for name in ("curriculum", "efficiency", "grokking", "semi-grokking", "ungrokking")
    },
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rerun", help="run a recorded run folder again from its manifest (config and inputs)"
    )
    parser.add_argument("run_dir", help="a run folder written by a mechcirc command")
    add_out_args(parser, "RUN_DIR-rerun-TIME beside RUN_DIR")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mechcirc.errors import UsageError
    from mechcirc.runs import default_run_dir, read_manifest

    source = Path(args.run_dir)
    manifest = read_manifest(source)
    command = manifest.get("command")
    if command not in RERUNNABLE:
        raise UsageError(
            f"{source} holds a {command!r} run; rerun supports {', '.join(RERUNNABLE)}"
        )
    if not manifest.get("inputs"):
        raise UsageError(f"{source}'s manifest records no inputs (written by an older mechcirc)")
    out = args.out or default_run_dir(f"{source.name}-rerun", root=source.parent)
    module = import_module(RERUNNABLE[command])
    return module.rerun(manifest, out, overwrite=args.overwrite)
