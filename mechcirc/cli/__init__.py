"""The ``mechcirc`` command line: thin parsers over the library functions notebooks call.

Each subcommand lives in its own module under ``mechcirc.cli`` with a
``register(subparsers)`` that adds its parser and sets ``run=<function(args) -> int>``.
Heavy imports (torch, TransformerLens) happen inside those functions, after parsing.

Errors are one line on stderr: a ``UsageError`` (or an input the user can fix: a file that
cannot be read, written or decoded) exits 2; any other failure exits 1; SIGINT exits 130 and
SIGTERM 143, and a run folder being written is marked ``interrupted``. ``--debug`` prints the
traceback as well and keeps the exit code.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from importlib import import_module

from mechcirc import __version__
from mechcirc.errors import Interrupted, MechcircError, UsageError

__all__ = ["SUBCOMMAND_MODULES", "USER_OS_ERRORS", "build_parser", "main"]

# One module per subcommand; each defines register(subparsers).
SUBCOMMAND_MODULES = (
    "models",
    "heads",
    "path_patch",
    "components",
    "view",
    "tasks",
    "experiment",
    "train",
    "l3d",
    "eap",
    "report",
    "sweep",
    "rerun",
)
# OSErrors the user can fix (a path, a permission, a read-only disk): usage errors, exit 2.
USER_OS_ERRORS = {
    errno.ENOENT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}


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
    """Run the CLI; returns the exit code (0 ok, 1 runtime error, 2 usage error, 130/143 stop)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous = _raise_on_sigterm()
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
    except Interrupted as err:
        return _report(f"interrupted ({err.signal_name})", 143, debug)
    except KeyboardInterrupt:
        return _report("interrupted", 130, debug)
    except MechcircError as err:
        return _report(f"error: {err}", err.exit_code, debug)
    except UnicodeDecodeError as err:
        return _report(
            f"error: {_where(err)}could not decode the input as {err.encoding} "
            f"(byte {err.object[err.start : err.start + 1]!r} at offset {err.start}): "
            "save it as UTF-8",
            2,
            debug,
        )
    except OSError as err:
        code = 2 if err.errno in USER_OS_ERRORS else 1
        where = f"{err.filename}: " if err.filename else ""
        return _report(f"error: {where}{err.strerror or err}", code, debug)
    except Exception as err:  # a bug or an unexpected library failure: still one line
        return _report(
            f"error: {type(err).__name__}: {_first_line(err)} (--debug shows the traceback)",
            1,
            debug,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _report(message: str, code: int, debug: bool) -> int:
    _close_progress_bars()
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _close_progress_bars() -> None:
    """End any progress bar a failure left open, so the error starts on its own line."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"


def _where(err: UnicodeDecodeError) -> str:
    name = getattr(err, "filename", None)
    return f"{name}: " if name else ""


def _raise_on_sigterm():
    """SIGTERM raises :class:`Interrupted`, so run folders are marked before the exit."""

    def handler(signum, frame):
        raise Interrupted("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. called from a worker thread)
        return None
