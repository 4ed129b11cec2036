"""The Hugging Face hub cache as a sweep sees it: is a revision there, and deleting one.

``--delete-downloaded`` deletes a revision after its unit is done, but only one that was not in
the cache before the unit loaded it (a revision the user had is never touched). Files shared
with other revisions (tokenizer, config) stay while another revision uses them.

Example:
    >>> revision_cached("EleutherAI/pythia-160m", "step1000")        # doctest: +SKIP
    True
    >>> delete_cached_revision("EleutherAI/pythia-160m", "step1000")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["delete_cached_revision", "revision_cached"]

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _snapshot(model_id: str, revision: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None


def revision_cached(model_id: str, revision: str) -> bool:
    """Whether the cache holds ``revision``'s config and at least one weights file."""
    snapshot = _snapshot(model_id, revision)
    return snapshot is not None and any(
        path.name.endswith(WEIGHT_SUFFIXES) for path in snapshot.iterdir()
    )


def delete_cached_revision(model_id: str, revision: str) -> bool:
    """Delete ``revision`` of ``model_id`` from the cache (its snapshot, its ref and the files
    no other revision uses); False if it was not there."""
    from huggingface_hub import scan_cache_dir

    snapshot = _snapshot(model_id, revision)
    if snapshot is None:
        return False
    cache_dir = snapshot.parents[2]  # <cache>/models--owner--name/snapshots/<commit>
    strategy = scan_cache_dir(cache_dir).delete_revisions(snapshot.name)
    freed = strategy.expected_freed_size_str
    log.info("deleting %s@%s from the hub cache (%s)", model_id, revision, freed)
    strategy.execute()
    ref = snapshot.parents[1] / "refs" / revision
    ref.unlink(missing_ok=True)
    return True
