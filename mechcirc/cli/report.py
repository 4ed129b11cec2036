"""``mechcirc report DIR``: one self-contained HTML page of a sweep folder or an eap run folder.

The page is derived from the folder's files (nothing runs a model), so ``DIR/report.html`` is
simply rewritten; another existing ``--out`` file is kept unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mechcirc.cli.common import positive_int

__all__ = ["register", "run_tokenizer"]

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="an interactive offline HTML report of a sweep folder or an eap run folder",
    )
    parser.add_argument("dir", metavar="DIR", help="a sweep folder or an eap run folder")
    parser.add_argument("--out", default=None, help="HTML file (default DIR/report.html)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument(
        "--max-edges",
        type=positive_int,
        default=2000,
        help="strongest edges stored per circuit besides the circuit's own (default 2000)",
    )
    parser.set_defaults(run=_run)


def run_tokenizer(run_dir: Path):
    """The run's tokenizer when it can be had offline (examples then show as text), or None."""
    from mechcirc.runs import read_manifest

    model = read_manifest(run_dir).get("model") or {}
    model_id = str(model.get("model_id") or "")
    try:
        if model_id.startswith("EleutherAI/pythia"):
            from mechcirc.models.tokenizers import pythia_tokenizer

            return pythia_tokenizer()
        from transformers import AutoTokenizer

        commit = model.get("commit")
        revision = commit if commit and commit != "-" else None
        return AutoTokenizer.from_pretrained(model_id, revision=revision, local_files_only=True)
    except Exception as err:  # any failure only means examples are shown as token ids
        log.info("no tokenizer for %r (%s): examples are shown as token ids", model_id, err)
        return None


def _run(args: argparse.Namespace) -> int:
    from mechcirc.errors import UsageError
    from mechcirc.report import report_kind, write_run_report, write_sweep_report

    directory = Path(args.dir)
    kind = report_kind(directory)
    out = Path(args.out) if args.out else directory / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out must name an .html file, got {args.out!r}")
    if args.out and out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists: choose a new file, or pass --overwrite")
    if kind == "sweep":
        path = write_sweep_report(directory, out, max_edges=args.max_edges)
    else:
        tokenizer = run_tokenizer(directory)
        path = write_run_report(directory, out, tokenizer=tokenizer, max_edges=args.max_edges)
    print(f"{kind} report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
