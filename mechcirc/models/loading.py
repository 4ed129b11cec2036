"""``load_model``: a TransformerBridge with its tokenizer from a short name, hub id, folder or GGUF;
``switch_revision``: another checkpoint's weights swapped into that bridge.

Weights load from safetensors (``pytorch_model.bin`` only with ``allow_bin=True``) and are
processed in place (:mod:`mechcirc.models.processing`), so loading holds the weights about once.

Example:
    >>> import mechcirc
    >>> model = mechcirc.load_model("pythia-160m", revision="step143000")  # doctest: +SKIP
    >>> model.cfg.n_layers, model.mechcirc_source.commit                    # doctest: +SKIP
    >>> model = switch_revision(model, "step1000")                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Literal

import torch
from transformer_lens.model_bridge import TransformerBridge

from mechcirc.errors import ModelLoadError, UsageError
from mechcirc.models.device import resolve_device, resolve_dtype
from mechcirc.models.memory import release_freed_memory
from mechcirc.models.names import normalize_revision
from mechcirc.models.processing import in_place_supported, process_weights_in_place
from mechcirc.models.reload import CheckpointLayout, capture_layout, reload_weights
from mechcirc.models.source import (
    ModelSource,
    download_snapshot,
    hub_has_bin,
    hub_offline,
    load_failure_message,
    resolve_source,
    snapshot_folder,
)
from mechcirc.models.weights import bin_refusal, folder_weight_format, safetensors_files

__all__ = [
    "PROCESSING_CHOICES",
    "ModelSource",
    "hub_offline",
    "load_failure_message",
    "load_model",
    "resolve_source",
    "switch_revision",
]

log = logging.getLogger(__name__)

Processing = Literal["hooked", "none"]
PROCESSING_CHOICES: tuple[str, ...] = ("hooked", "none")


def load_model(
    name_or_path: str | Path,
    revision: str | int | None = None,
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = None,
    processing: Processing = "hooked",
    trust_remote_code: bool = False,
    allow_bin: bool = False,
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
            constant only), in place, one layer at a time; ``"none"`` keeps the checkpoint's
            weights exactly.
        trust_remote_code: run a hub repository's own modelling code (off unless you ask).
        allow_bin: load a checkpoint that has only ``pytorch_model.bin`` (a pickle) with
            ``torch.load(weights_only=True)``; refused by default.

    Raises:
        ModelLoadError: naming the id and revision tried, and how to pre-download them.
        UsageError: for a bad ``processing``, a missing local path, a malformed revision, or
            ``.bin``-only weights without ``allow_bin``.
    """
    if processing not in PROCESSING_CHOICES:
        raise UsageError(f"processing must be one of {PROCESSING_CHOICES}, got {processing!r}")
    source = resolve_source(name_or_path, revision)
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    hf_model, tokenizer = _load_hf(source, torch_dtype, trust_remote_code, allow_bin)
    folder = snapshot_folder(source)
    source = replace(source, commit=folder.name if source.kind == "hub" and folder else None)
    layout = _layout(hf_model, folder) if source.kind == "hub" else None
    log.info("booting TransformerBridge for %s@%s", source.model_id, source.revision or "main")
    bridge = TransformerBridge.boot_transformers(
        source.model_id if source.kind == "hub" else _local_name(source),
        hf_model=hf_model,
        tokenizer=tokenizer,
        dtype=torch_dtype,
        revision=source.revision,
    )
    release_freed_memory()  # the boot's throwaway q/k/v layers, before every weight is resident
    _process(bridge, processing)
    bridge.to(torch_device)
    bridge.eval()
    bridge.mechcirc_source = source
    bridge.mechcirc_processing = processing
    bridge.mechcirc_layout = layout if in_place_supported(bridge) else None
    return bridge


def switch_revision(model: TransformerBridge, revision: str | int) -> TransformerBridge:
    """Load another revision's weights into ``model`` (from ``load_model``, same hub repository).

    The bridge is not rebuilt: the new checkpoint is read straight into the model's tensors
    and the model's weight processing is applied again, so the result computes what
    ``load_model(name, revision)`` would, and hooks added to the model and its hook switches
    stay as they were. ``model.mechcirc_source`` names the new revision and commit. The
    tokenizer is kept (a repository's revisions share it, as Pythia's do). An architecture
    without an in-place layout (see :mod:`mechcirc.models.processing`) is loaded afresh.

    Example:
        >>> model = load_model("pythia-160m", revision="step143000")   # doctest: +SKIP
        >>> model = switch_revision(model, "step1000")                 # doctest: +SKIP

    Raises:
        UsageError: if ``model`` was not loaded from the hub by ``load_model``, the revision
            is malformed, or its config differs from the loaded one (another architecture).
        ModelLoadError: if the revision is not in the cache (offline) or on the hub.
    """
    source = getattr(model, "mechcirc_source", None)
    if source is None or source.kind != "hub":
        raise UsageError(
            "switch_revision needs a model loaded from the hub by mechcirc.load_model, "
            f"got one from {source.kind + ' ' + source.model_id if source else 'elsewhere'}"
        )
    target = replace(source, revision=normalize_revision(revision, source.model_id))
    folder = download_snapshot(target)
    _check_same_config(model, folder, target)
    layout = getattr(model, "mechcirc_layout", None)
    if layout is None:
        log.info("no in-place layout for %s: loading %s afresh", source.model_id, revision)
        return _fresh_load(model, target)
    log.info("switching %s to %s", source.model_id, target.revision)
    reload_weights(model, layout, safetensors_files(folder))
    if model.mechcirc_processing == "hooked":
        process_weights_in_place(model)
    release_freed_memory()
    model.mechcirc_source = replace(target, commit=folder.name)
    return model


def _process(bridge: TransformerBridge, processing: Processing) -> None:
    """HookedTransformer compatibility, with the weights processed in place where supported."""
    in_place = processing == "hooked" and in_place_supported(bridge)
    no_processing = processing == "none" or in_place
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=no_processing)
    if in_place:
        process_weights_in_place(bridge)
    elif processing == "hooked":
        log.info("%s: TransformerLens's weight processing (several copies)", type(bridge.adapter))


def _layout(hf_model, folder: Path | None) -> CheckpointLayout | None:
    if folder is None or folder_weight_format(folder) != "safetensors":
        return None
    return capture_layout(hf_model, safetensors_files(folder))


def _fresh_load(model: TransformerBridge, source: ModelSource) -> TransformerBridge:
    weight = next(model.parameters())
    return load_model(
        source.model_id,
        source.revision,
        device=weight.device,
        dtype=weight.dtype,
        processing=model.mechcirc_processing,
    )


def _check_same_config(model: TransformerBridge, folder: Path, target: ModelSource) -> None:
    """Refuse a revision whose config differs from the loaded model's (a different model)."""
    ignored = {"_name_or_path", "transformers_version", "dtype", "torch_dtype", "_commit_hash"}
    config = model.original_model.config
    loaded = config.to_dict()
    new = type(config).from_dict(json.loads((folder / "config.json").read_text())).to_dict()
    differ = sorted(
        key
        for key in set(loaded) | set(new)
        if key not in ignored and loaded.get(key) != new.get(key)
    )
    if differ:
        raise UsageError(
            f"{target.model_id}@{target.revision} has another config than the loaded model "
            f"(differs in {', '.join(differ[:6])}); switch_revision only swaps weights of the "
            "same architecture: load it with load_model"
        )


def _local_name(source: ModelSource) -> str:
    return Path(source.model_id).name


def _load_hf(source: ModelSource, dtype: torch.dtype, trust_remote_code: bool, allow_bin: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"trust_remote_code": trust_remote_code}
    weights: dict = {"use_safetensors": None if allow_bin else True, "weights_only": True}
    target = source.model_id
    if source.kind == "gguf":
        target, kwargs["gguf_file"] = str(Path(source.model_id).parent), Path(source.model_id).name
        weights = {}
    elif source.revision is not None:
        kwargs["revision"] = source.revision
    if source.kind == "local" and not allow_bin and folder_weight_format(Path(target)) == "bin":
        raise bin_refusal(target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, **kwargs, **weights)
    except (OSError, ValueError) as err:
        if source.kind == "hub" and not allow_bin and hub_has_bin(source):
            raise bin_refusal(f"{source.model_id}@{source.revision or 'main'}") from err
        raise ModelLoadError(load_failure_message(source, err)) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
