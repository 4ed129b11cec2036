"""Package attributes imported on first use, so ``import mechcirc`` and the CLI start fast.

Example:
    >>> __getattr__ = lazy_attributes("mypackage", {"load_model": "mechcirc.models.loading"})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``names[attribute]`` (a module path) when the
    attribute is first read, and raises the usual AttributeError for any other name."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
