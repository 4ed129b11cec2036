"""The ``mechcirc`` command line: thin parsers over the library functions notebooks call.

Each subcommand lives in its own module under ``mechcirc.cli`` with a
``register(subparsers)`` that adds its parser and sets ``run=<function(args) -> int>``.
Heavy imports (torch, TransformerLens) happen inside those functions, after parsing.

Errors: a ``UsageError`` exits 2, any other ``MechcircError`` exits 1, each as one line on
stderr; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from mechcirc import __version__
from mechcirc.errors import MechcircError, UsageError

# One module per subcommand; each defines register(subparsers).
SUBCOMMAND_MODULES = (
    "models",
    "heads",
    "path_patch",
    "view",
    "tasks",
    "experiment",
    "train",
    "l3d",
    "eap",
)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns every exit code."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mechcirc",
        description="Mechanistic interpretability on TransformerLens 4: circuits over training "
        "(EAP-IG), head scores, training dynamics of toy models, L3D.",
    )
    parser.add_argument("--version", action="version", version=f"mechcirc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress phases")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in SUBCOMMAND_MODULES:
        import_module(f"mechcirc.cli.{module}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 runtime error, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 0 if not argv else 2
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        return int(args.run(args) or 0)
    except MechcircError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
