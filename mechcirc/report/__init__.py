"""Self-contained interactive HTML reports of sweep folders and ``eap`` run folders.

One file per report, readable offline: plotly.js (and circuitsvis for attention patterns)
inlined once, the data as JSON, a small glue script. The report reads folders and never runs a
model. ``write_report`` picks the kind from the folder.

Example:
    >>> from mechcirc.report import write_report
    >>> write_report("runs/eap-demo")                 # doctest: +SKIP
    PosixPath('runs/eap-demo/report.html')
    >>> write_sweep_report("sweeps/ioi-gt", out="ioi-gt.html")  # doctest: +SKIP
    PosixPath('ioi-gt.html')
"""

from __future__ import annotations

from pathlib import Path

from mechcirc.errors import UsageError
from mechcirc.report.run_report import run_report_data, write_run_report
from mechcirc.report.sweep_folder import is_sweep_folder, read_sweep
from mechcirc.report.sweep_report import sweep_report_data, write_sweep_report
from mechcirc.runs import MANIFEST

__all__ = [
    "read_sweep",
    "report_kind",
    "run_report_data",
    "sweep_report_data",
    "write_report",
    "write_run_report",
    "write_sweep_report",
]


def report_kind(directory: str | Path) -> str:
    """``"sweep"`` (a folder with sweep.json) or ``"run"`` (a run folder with a manifest)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder: give a sweep folder or an eap run folder")
    if is_sweep_folder(directory):
        return "sweep"
    if (directory / MANIFEST).is_file():
        return "run"
    raise UsageError(
        f"{directory} is neither a sweep folder (sweep.json) nor a run folder ({MANIFEST})"
    )


def write_report(directory: str | Path, out: str | Path | None = None, **options) -> Path:
    """Write the report of a sweep or run folder (default ``DIR/report.html``); its path."""
    if report_kind(directory) == "sweep":
        return write_sweep_report(directory, out, **options)
    return write_run_report(directory, out, **options)
