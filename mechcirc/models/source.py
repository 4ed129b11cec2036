"""Where a model comes from: a hub id and revision, a local folder or a GGUF file; the hub cache.

Example:
    >>> resolve_source("pythia-160m", 143000).revision
    'step143000'
    >>> looks_like_path("./runs/model"), looks_like_path("EleutherAI/pythia-160m")
    (True, False)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.names import normalize_revision, resolve_model_id
from mechcirc.models.weights import SAFETENSORS_FILES, bin_refusal, safetensors_files

__all__ = [
    "ModelSource",
    "download_snapshot",
    "hub_has_bin",
    "hub_offline",
    "load_failure_message",
    "looks_like_path",
    "resolve_source",
    "snapshot_folder",
]


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from, as recorded in run manifests."""

    kind: Literal["hub", "local", "gguf"]
    model_id: str
    revision: str | None
    commit: str | None = None
    name: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for cache-only loading."""
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_source(name_or_path: str | Path, revision: str | int | None = None) -> ModelSource:
    """Decide whether ``name_or_path`` is a GGUF file, a local folder or a hub model.

    Raises:
        UsageError: for a path (``./m``, ``/m``, ``~/m``, ``a/b/c``) that does not exist, or a
            file that is neither a folder nor a ``.gguf``; for a malformed revision.
        ModelLoadError: for a missing ``.gguf``, a folder without ``config.json``, or an
            unknown short name.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {path}")
        return ModelSource("gguf", str(path.resolve()), None, name=text)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is a folder but holds no config.json: expected a saved transformers model"
            )
        return ModelSource("local", str(path.resolve()), None, name=text)
    if path.exists():
        raise UsageError(f"{path} is a file: load a model folder (with config.json) or a .gguf")
    if looks_like_path(text):
        raise UsageError(
            f"no such folder or file: {path} (a local model is a folder with config.json or a "
            ".gguf file; a hub id looks like owner/name)"
        )
    model_id = resolve_model_id(text)
    return ModelSource("hub", model_id, normalize_revision(revision, model_id), name=text)


def looks_like_path(text: str) -> bool:
    """Whether a model name can only be a filesystem path, never a hub id (``owner/name``).

    Example:
        >>> looks_like_path("a/b/c"), looks_like_path("~/model"), looks_like_path("gpt2")
        (True, True, False)
    """
    separators = {os.sep, os.altsep, "\\"} - {None}
    return (
        text.startswith((".", "/", "~"))
        or any(sep in text for sep in separators - {"/"})
        or text.count("/") > 1
    )


def snapshot_folder(source: ModelSource) -> Path | None:
    """The folder a model was loaded from: the hub cache's snapshot (named by its commit)."""
    if source.kind == "local":
        return Path(source.model_id)
    if source.kind != "hub":
        return None
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(source.model_id, "config.json", revision=source.revision)
    return Path(path).parent if isinstance(path, str) else None


def download_snapshot(source: ModelSource) -> Path:
    """A revision's config and safetensors weights in the hub cache (fetched unless offline).

    Raises:
        ModelLoadError: naming the revision and how to pre-download it.
        UsageError: if the revision has only ``.bin`` weights.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    def fetch(name: str) -> Path:
        return Path(hf_hub_download(source.model_id, name, revision=source.revision))

    try:
        folder = fetch("config.json").parent
        for name in reversed(SAFETENSORS_FILES):  # the index first: it names the shards
            try:
                fetch(name)
            except EntryNotFoundError:
                continue
            for shard in safetensors_files(folder):
                fetch(shard.name)
            return folder
    except (OSError, ValueError) as err:
        raise ModelLoadError(load_failure_message(source, err)) from err
    if hub_has_bin(source):
        raise bin_refusal(f"{source.model_id}@{source.revision}")
    raise ModelLoadError(f"{source.model_id}@{source.revision} has no safetensors weights")


def hub_has_bin(source: ModelSource) -> bool:
    """Whether a hub revision has ``pytorch_model.bin`` (in the cache when offline)."""
    from huggingface_hub import file_exists, try_to_load_from_cache

    name, revision = "pytorch_model.bin", source.revision
    if hub_offline():
        return isinstance(try_to_load_from_cache(source.model_id, name, revision=revision), str)
    try:
        return file_exists(source.model_id, name, revision=revision)
    except Exception:  # noqa: BLE001 - unreachable hub: fall back to the generic message
        return False


def load_failure_message(source: ModelSource, err: Exception) -> str:
    """One line naming what could not be loaded and, for the hub, how to pre-download it."""
    if source.kind != "hub":
        return f"could not load {source.kind} model {source.model_id}: {err}"
    rev = source.revision or "main"
    where = "the local cache (HF_HUB_OFFLINE is set)" if hub_offline() else "the hub or the cache"
    revision_flag = f" --revision {source.revision}" if source.revision else ""
    return (
        f"could not load {source.model_id} at revision {rev} from {where}: "
        f"{str(err).splitlines()[0] if str(err) else type(err).__name__}. "
        f"Pre-download it where the hub is reachable with "
        f"`hf download {source.model_id}{revision_flag}` (same HF_HOME), then retry."
    )
