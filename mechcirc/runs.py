"""Run folders: every job writes its config, versions, model, seed, timings and results to disk.

Layout: ``manifest.json`` (always), tensors as ``.safetensors``, tables as ``.parquet``, other
outputs beside them. Nothing is pickled.

Example:
    >>> run = RunFolder.create("runs/demo", command="eap", config={}, seed=0)  # doctest: +SKIP
    >>> run.save_tensors("scores.safetensors", {"scores": scores})  # doctest: +SKIP
    >>> run.finish(metrics={"faithfulness": 0.83})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mechcirc.errors import UsageError

VERSIONED_PACKAGES = ("mechcirc", "torch", "transformer-lens", "transformers", "safetensors")


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
    """A readable, unique folder name: ``runs/eap-pythia-160m-ioi-step143000-20261121-1744``."""
    label = "-".join(str(p).replace("/", "_") for p in (kind, *parts) if p not in (None, ""))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / f"{label}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{label}-{stamp}-{suffix}"
    return candidate


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


@dataclass
class RunFolder:
    """A folder holding one run's outputs and its ``manifest.json``."""

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
        seed: int | None = None,
        model: dict[str, Any] | None = None,
        argv: list[str] | None = None,
    ) -> RunFolder:
        """Make the folder and write a ``running`` manifest at once (so a crash leaves a trace)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.manifest = {
            "command": command,
            "argv": argv if argv is not None else sys.argv,
            # callables (argparse's `run=` entry) are code, not configuration
            "config": _jsonable({k: v for k, v in config.items() if not callable(v)}),
            "seed": seed,
            "model": _jsonable(model) if model is not None else None,
            "versions": library_versions(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "running",
            "timings": {},
            "metrics": {},
            "outputs": [],
        }
        run.write_manifest()
        return run

    def file(self, name: str) -> Path:
        """Path of an output file inside the run, recorded in the manifest's ``outputs``.

        ``name`` is relative to the run folder (sub-folders allowed); anything that would land
        outside it is refused.
        """
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise UsageError(f"run outputs are named relative to the run folder, got {name!r}")
        if name not in self.manifest["outputs"]:
            self.manifest["outputs"].append(name)
        return self.path / name

    def write_manifest(self) -> None:
        text = json.dumps(_jsonable(self.manifest), indent=2, sort_keys=False)
        (self.path / "manifest.json").write_text(text + "\n")

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
        path.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
        return path

    def save_tensors(
        self, name: str, tensors: dict, metadata: dict[str, str] | None = None
    ) -> Path:
        from safetensors.torch import save_file

        path = self.file(name)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
            str(path),
            metadata=metadata,
        )
        return path

    def save_table(self, name: str, frame) -> Path:
        """Write a pandas DataFrame as Parquet."""
        path = self.file(name)
        frame.to_parquet(path, index=False)
        return path

    def finish(self, status: str = "ok", **sections: Any) -> None:
        """Record the total wall time and final status."""
        timings = dict(sections.pop("timings", {}) or {})
        timings["total_s"] = round(time.perf_counter() - self._started, 3)
        self.update(
            timings=timings,
            status=status,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            **sections,
        )
