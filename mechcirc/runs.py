"""Run folders: one run's config, versions, model, seed, timings, status and outputs on disk.

Layout: ``manifest.json`` (always), tensors as ``.safetensors``, tables as ``.parquet``, other
outputs beside them, every one listed in the manifest's ``outputs``. Nothing is pickled.

Lifecycle: ``running`` (with the pid, host and start time of the process) -> ``done`` |
``failed`` (the error's type and one-line message) | ``interrupted`` (SIGINT / SIGTERM). The
manifest is always replaced atomically, and ``done`` is written last, so a folder whose
manifest does not say ``done`` is never mistaken for a result; :func:`run_status` tells a dead
``running`` run (its process gone) from a live one.

An existing non-empty folder is never reused silently: :func:`prepare_out_dir` refuses it unless
``overwrite`` (clear it first) or ``resume`` (continue the run inside it).

Example:
    >>> with RunFolder.create("runs/demo", command="eap", config=config.to_dict()) as run:
    ...     run.save_tensors("scores.safetensors", {"scores": scores})  # doctest: +SKIP
    ...     run.finish(metrics={"faithfulness": 0.83})                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from mechcirc.errors import MechcircError, UsageError

__all__ = [
    "MANIFEST",
    "RunFolder",
    "RunStatus",
    "atomic_write_text",
    "default_run_dir",
    "library_versions",
    "prepare_out_dir",
    "read_manifest",
    "run_status",
]

MANIFEST = "manifest.json"
VERSIONED_PACKAGES = ("mechcirc", "torch", "transformer-lens", "transformers", "safetensors")
Status = Literal["running", "done", "failed", "interrupted"]


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    found = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def default_run_dir(kind: str, *parts: str | int | None, root: str | Path = "runs") -> Path:
    """A readable, unique folder name: ``runs/eap-pythia-160m-ioi-step143000-20261121-174400``."""
    label = "-".join(str(p).replace("/", "_") for p in (kind, *parts) if p not in (None, ""))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / f"{label}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{label}-{stamp}-{suffix}"
    return candidate


def prepare_out_dir(
    path: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    can_resume: bool = False,
    flag: str = "--out",
) -> Path:
    """Check an output folder before any work; nothing on disk changes.

    Refused (``UsageError``): a path that is a file, a non-empty folder (unless ``overwrite`` or
    ``resume``; ``can_resume`` mentions ``--resume`` in the message), a folder that cannot be
    created or written.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file: expected a folder for the run's outputs")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        resume_hint = ", or --resume to continue its run" if can_resume else ""
        raise UsageError(
            f"{flag} {path} already holds files (an earlier run?): choose a new {flag}, or pass "
            f"--overwrite to replace its contents{resume_hint}"
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is a file, so the folder cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {existing} is not writable")
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over: readers see the old or the new file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the run folder at ``path`` (``UsageError`` if there is none)."""
    file = Path(path) / MANIFEST
    try:
        return json.loads(file.read_text())
    except FileNotFoundError as err:
        raise UsageError(f"{path} is not a run folder: it holds no {MANIFEST}") from err
    except json.JSONDecodeError as err:
        raise MechcircError(f"{file} is not valid JSON ({err})") from err


@dataclass(frozen=True)
class RunStatus:
    """What a reader can tell of a run folder: its status, and for ``running`` whether the
    process is still alive (``None`` when it runs on another host)."""

    status: Status | Literal["missing"]
    alive: bool | None = None
    error: str | None = None

    @property
    def dead(self) -> bool:
        """A ``running`` manifest whose process is gone: killed, or the machine went down."""
        return self.status == "running" and self.alive is False


def run_status(path: str | Path) -> RunStatus:
    """Status of the run at ``path``; a ``running`` run is checked against its process."""
    if not (Path(path) / MANIFEST).is_file():
        return RunStatus("missing")
    manifest = read_manifest(path)
    status = manifest.get("status", "running")
    error = (manifest.get("error") or {}).get("message")
    if status != "running":
        return RunStatus(status, error=error)
    process = manifest.get("process") or {}
    if process.get("host") != socket.gethostname():
        return RunStatus("running", alive=None)
    return RunStatus("running", alive=_process_alive(process.get("pid"), process.get("started")))


def _process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _process_alive(pid: int | None, started: int | None) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _process_start_ticks(pid) in (None, started)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return _jsonable(value.to_dict())
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunFolder:
    """A folder holding one run's outputs and its ``manifest.json``; a context manager that
    marks the run ``failed`` or ``interrupted`` when its block raises, ``done`` otherwise."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter, repr=False)

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        command: str,
        config: dict[str, Any],
        seed: int | list[int] | None = None,
        model: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        argv: list[str] | None = None,
        overwrite: bool = False,
        resume: bool = False,
    ) -> RunFolder:
        """Make the folder and write a ``running`` manifest at once (so a crash leaves a trace).

        Args:
            config: the analysis config (``config.to_dict()``).
            inputs: what the analysis ran on (model name and revision, task, n, ...), enough
                with ``config`` to run it again (``mechcirc rerun``).
            overwrite: clear a non-empty folder first. resume: continue the run inside it
                (its manifest and outputs are kept; the command must be the same).
        """
        path = prepare_out_dir(path, overwrite=overwrite, resume=resume)
        previous = _resumed_manifest(path, command) if resume else None
        if overwrite and path.is_dir():
            _clear(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.manifest = {
            "command": command,
            "argv": argv if argv is not None else sys.argv,
            # callables (argparse's `run=` entry) are code, not configuration
            "config": _jsonable({k: v for k, v in config.items() if not callable(v)}),
            "inputs": _jsonable(inputs) if inputs is not None else None,
            "seed": seed,
            "model": _jsonable(model) if model is not None else None,
            "versions": library_versions(),
            "started_at": _now(),
            "status": "running",
            "process": _this_process(),
            "timings": {},
            "metrics": {},
            "outputs": [],
        }
        if previous is not None:
            run.manifest["outputs"] = list(previous.get("outputs", []))
            run.manifest["resumed_from"] = {
                "started_at": previous.get("started_at"),
                "status": previous.get("status"),
            }
        run.write_manifest()
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder, to read (or add derived outputs to) a finished run."""
        return cls(Path(path), read_manifest(path))

    # ---- the context manager: failures and interrupts are recorded, then re-raised ----------
    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None:
            if self.status == "running":
                self.finish()
        elif isinstance(error, KeyboardInterrupt):
            self._close("interrupted", error)
        else:
            self._close("failed", error)
        return False

    @property
    def status(self) -> str:
        return self.manifest.get("status", "running")

    def _close(self, status: Status, error: BaseException) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self.update(
            status=status,
            error={"type": type(error).__name__, "message": message},
            finished_at=_now(),
            timings={"total_s": round(time.perf_counter() - self._started, 3)},
        )

    # ---- outputs ---------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """Path of an output file inside the run, recorded in the manifest's ``outputs``.

        ``name`` is relative to the run folder (sub-folders allowed and created); anything that
        would land outside it is refused.
        """
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise UsageError(f"run outputs are named relative to the run folder, got {name!r}")
        if name not in self.manifest["outputs"]:
            self.manifest["outputs"].append(name)
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_manifest(self) -> None:
        text = json.dumps(_jsonable(self.manifest), indent=2, sort_keys=False)
        atomic_write_text(self.path / MANIFEST, text + "\n")

    def update(self, **sections: Any) -> None:
        """Merge keys into manifest sections (``timings=``, ``metrics=``...) and save."""
        for key, value in sections.items():
            current = self.manifest.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                current.update(_jsonable(value))
            else:
                self.manifest[key] = _jsonable(value)
        self.write_manifest()

    def save_json(self, name: str, data: Any) -> Path:
        path = self.file(name)
        atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")
        return path

    def save_tensors(
        self, name: str, tensors: dict, metadata: dict[str, Any] | None = None
    ) -> Path:
        """Safetensors, byte-reproducible (:func:`mechcirc.tensorfiles.save_tensors`)."""
        from mechcirc.tensorfiles import save_tensors

        return save_tensors(self.file(name), tensors, metadata)

    def save_table(self, name: str, frame) -> Path:
        """Write a pandas DataFrame as Parquet."""
        path = self.file(name)
        partial = path.with_name(f".{path.name}.partial")
        frame.to_parquet(partial, index=False)
        os.replace(partial, path)
        return path

    def finish(self, **sections: Any) -> None:
        """Record the total wall time and mark the run ``done`` (the manifest's last write)."""
        timings = dict(sections.pop("timings", {}) or {})
        timings["total_s"] = round(time.perf_counter() - self._started, 3)
        missing = [name for name in self.manifest["outputs"] if not (self.path / name).exists()]
        if missing:
            raise MechcircError(f"run outputs were listed but never written: {', '.join(missing)}")
        self.update(timings=timings, finished_at=_now(), **sections)
        self.update(status="done")


def _this_process() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _process_start_ticks(os.getpid()),
    }


def _resumed_manifest(path: Path, command: str) -> dict[str, Any] | None:
    if not (path / MANIFEST).is_file():
        return None
    previous = read_manifest(path)
    if previous.get("command") != command:
        raise UsageError(
            f"cannot resume {path}: it holds a {previous.get('command')!r} run, not {command!r}"
        )
    state = run_status(path)
    if state.status == "running" and state.alive:
        raise UsageError(
            f"cannot resume {path}: its run is still going (pid {previous['process']['pid']})"
        )
    return previous


def _clear(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
