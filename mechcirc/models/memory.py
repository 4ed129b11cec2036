"""Giving freed memory back to the operating system between the phases of a long job.

glibc keeps freed heap blocks for later reuse, so a process's resident size stays at its
high-water mark after a phase that allocated a lot of small and medium tensors (a bridge's
boot, an attribution's activations), and the next phase's differently sized tensors often
cannot reuse those blocks: the process then peaks at both phases' memory added together.

Example:
    >>> release_freed_memory()   # between two phases; a no-op where the C library is not glibc
"""

from __future__ import annotations

import contextlib
import ctypes

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """Hand memory freed on the heap back to the OS (``malloc_trim``), where libc is glibc."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)
