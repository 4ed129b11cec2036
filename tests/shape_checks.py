"""Run-time checks of mechcirc's jaxtyping shape annotations, for the test suite.

``install_import_hook(["mechcirc"], "shape_checks.check_shapes")`` (tests/conftest.py) wraps
every mechcirc function in ``jaxtyped``, which keeps one memo of dimension sizes per call, and
in :func:`check_shapes`, which checks the arguments and return value annotated with jaxtyping
array types (``Float[Tensor, "batch pos"]``, optionally ``| None``): a tensor of the wrong rank,
dtype kind or inconsistent dimension sizes fails the test that passed it. Other annotations are
left to the functions' own validation, which gives users their error messages.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
import typing
from collections.abc import Iterator
from typing import Any, Union

from jaxtyping import AbstractArray

__all__ = ["check_shapes", "unchecked"]

_enabled = [True]


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Switch the checks off inside a test that passes a deliberately ill-shaped input to see
    the function's own user-facing error (which the checks would otherwise pre-empt)."""
    _enabled.append(False)
    try:
        yield
    finally:
        _enabled.pop()


def _array_hint(hint: Any) -> Any | None:
    """``hint`` when it is a jaxtyping array type or an optional one, else None."""
    if isinstance(hint, type) and issubclass(hint, AbstractArray):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        options = typing.get_args(hint)
        arrays = [a for a in options if isinstance(a, type) and issubclass(a, AbstractArray)]
        if arrays and all(a in arrays or a is type(None) for a in options):
            return hint
    return None


def _array_hints(fn) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # names only importable under TYPE_CHECKING: nothing to check
        return {}
    return {name: array for name, hint in hints.items() if (array := _array_hint(hint))}


def check_shapes(fn):
    """A decorator checking ``fn``'s jaxtyping-annotated arguments and return value."""
    if not callable(fn) or isinstance(fn, type):
        return fn
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    hints: dict[str, Any] | None = None

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal hints
        if hints is None:  # resolved at the first call: forward references exist by then
            hints = _array_hints(fn)
        if not hints or not _enabled[-1]:
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in hints and not isinstance(value, hints[name]):
                raise TypeError(_message(fn, f"argument {name!r}", value, hints[name]))
        result = fn(*args, **kwargs)
        if "return" in hints and not isinstance(result, hints["return"]):
            raise TypeError(_message(fn, "return value", result, hints["return"]))
        return result

    return wrapper


def _message(fn, what: str, value: Any, hint: Any) -> str:
    shape = tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
    dtype = getattr(value, "dtype", "")
    return f"{fn.__module__}.{fn.__qualname__}: {what} {shape} {dtype} is not {hint}"
