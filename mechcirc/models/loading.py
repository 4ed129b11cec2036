"""``load_model``: a TransformerBridge with its tokenizer from a short name, hub id, folder or GGUF.

Example:
    >>> import mechcirc
    >>> model = mechcirc.load_model("pythia-160m", revision="step143000")  # doctest: +SKIP
    >>> model.cfg.n_layers, model.mechcirc_source.commit                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from transformer_lens.model_bridge import TransformerBridge

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.device import resolve_device, resolve_dtype
from mechcirc.models.names import normalize_revision, resolve_model_id

log = logging.getLogger(__name__)

Processing = Literal["hooked", "none"]
PROCESSING_CHOICES: tuple[str, ...] = ("hooked", "none")


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
    """Decide whether ``name_or_path`` is a GGUF file, a local folder or a hub model."""
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
    model_id = resolve_model_id(text)
    return ModelSource("hub", model_id, normalize_revision(revision, model_id), name=text)


def load_model(
    name_or_path: str | Path,
    revision: str | int | None = None,
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = None,
    processing: Processing = "hooked",
    trust_remote_code: bool = False,
) -> TransformerBridge:
    """Load a model as a TransformerBridge (tokenizer attached), ready for hooks.

    Args:
        name_or_path: short name (``pythia-160m``, ``gpt2``; see ``mechcirc models list``),
            hub id (``EleutherAI/pythia-410m-deduped``), local folder or ``.gguf`` file.
        revision: ``"step143000"``, ``143000`` or any hub branch / tag / commit.
        device: ``"auto"`` picks cuda, mps, then cpu.
        dtype: ``float32`` (default), ``bfloat16`` or ``float16``.
        processing: ``"hooked"`` applies HookedTransformer's weight processing (fold layer
            norm, centre writing weights and unembedding; logits change by a per-position
            constant only); ``"none"`` keeps the checkpoint's weights exactly.
        trust_remote_code: run a hub repository's own modelling code (off unless you ask).

    Raises:
        ModelLoadError: naming the id and revision tried, and how to pre-download them.
    """
    if processing not in PROCESSING_CHOICES:
        raise UsageError(f"processing must be one of {PROCESSING_CHOICES}, got {processing!r}")
    source = resolve_source(name_or_path, revision)
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    hf_model, tokenizer = _load_hf(source, torch_dtype, trust_remote_code)
    source = ModelSource(
        source.kind,
        source.model_id,
        source.revision,
        commit=_cached_commit(source),
        name=source.name,
    )
    log.info("booting TransformerBridge for %s@%s", source.model_id, source.revision or "main")
    bridge = TransformerBridge.boot_transformers(
        source.model_id if source.kind == "hub" else _local_name(source),
        hf_model=hf_model,
        tokenizer=tokenizer,
        dtype=torch_dtype,
        revision=source.revision,
    )
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=processing == "none")
    bridge.to(torch_device)
    bridge.eval()
    bridge.mechcirc_source = source
    return bridge


def _cached_commit(source: ModelSource) -> str | None:
    """The commit a hub revision resolved to, read from the cache it was loaded from."""
    if source.kind != "hub":
        return None
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(source.model_id, "config.json", revision=source.revision)
    return Path(path).parent.name if isinstance(path, str) else None


def _local_name(source: ModelSource) -> str:
    return Path(source.model_id).name


def _load_hf(source: ModelSource, dtype: torch.dtype, trust_remote_code: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"trust_remote_code": trust_remote_code}
    target = source.model_id
    if source.kind == "gguf":
        target, kwargs["gguf_file"] = str(Path(source.model_id).parent), Path(source.model_id).name
    elif source.revision is not None:
        kwargs["revision"] = source.revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(load_failure_message(source, err)) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_failure_message(source: ModelSource, err: Exception) -> str:
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
