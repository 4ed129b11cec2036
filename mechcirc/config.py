"""Typed, frozen run configurations that round-trip through JSON.

Every analysis has one config dataclass: the CLI maps its flags onto it, a notebook builds it
directly, the run folder's manifest records ``config.to_dict()``, and ``from_dict`` rebuilds it
(``mechcirc rerun``). Values are checked when the config is built, so a bad value fails in
milliseconds, before any model loads.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo(Config):
    ...     steps: int = 10
    ...     lr: float = 1e-3
    ...     def validate(self) -> None:
    ...         require_positive_int("steps", self.steps)
    >>> Demo.from_dict(Demo(steps=5).to_dict()) == Demo(steps=5)
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from mechcirc.errors import UsageError

__all__ = [
    "Config",
    "parse_assignments",
    "require_finite",
    "require_in",
    "require_positive_int",
    "require_range",
]


C = TypeVar("C", bound="Config")


class Config:
    """Mixin for ``@dataclass(frozen=True)`` configs: validation, JSON, presets, overrides.

    Subclasses override :meth:`validate` (raise :class:`UsageError` naming the field, the value
    and what is allowed) and may list named presets in ``PRESETS``.
    """

    PRESETS: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's value; the default accepts anything."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (tuples become lists, nested configs dicts, paths strings)."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """The config ``to_dict`` wrote; unknown keys and ill-typed values are refused."""
        if not isinstance(data, Mapping):
            raise UsageError(f"{cls.__name__}: expected a mapping of fields, got {data!r}")
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UsageError(
                f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(known)}"
            )
        hints = typing.get_type_hints(cls)
        values = {
            key: _coerce(value, hints[key], f"{cls.__name__}.{key}") for key, value in data.items()
        }
        return cls(**values)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (type-checked as ``from_dict`` does)."""
        return type(self).from_dict({**self.to_dict(), **_to_json(changes)})

    @classmethod
    def preset(cls: type[C], name: str, **changes: Any) -> C:
        """The named preset (``PRESETS[name]`` over the defaults), then ``changes``."""
        if name not in cls.PRESETS:
            choices = ", ".join(cls.PRESETS) or "none"
            raise UsageError(f"unknown {cls.__name__} preset {name!r}: choose one of {choices}")
        return cls.from_dict({**_to_json(dict(cls.PRESETS[name])), **_to_json(changes)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def parse_assignments(items: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """``["p=59", 'name="x"']`` -> ``{"p": 59, "name": "x"}`` for ``--set KEY=JSON`` flags."""
    known = tuple(known)
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known or not value:
            raise UsageError(
                f"--set {item!r}: expected KEY=JSON with KEY one of {', '.join(known)}"
            )
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError as err:
            raise UsageError(f"--set {item!r}: {value!r} is not JSON (quote strings)") from err
    return parsed


# ---- checks that configs' validate() methods share ------------------------------------------
def require_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value!r}")


def require_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``value`` finite and inside the interval; the message names the interval."""
    require_finite(name, value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = (
            f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        )
        raise UsageError(f"{name} must be in {interval}, got {value!r}")


def require_positive_int(name: str, value: int, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


def require_in(name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


# ---- JSON <-> typed values ------------------------------------------------------------------
def _to_json(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` as ``annotation`` (JSON lists back to tuples, dicts to nested configs)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any or annotation is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except UsageError as err:
                errors.append(str(err))
        raise UsageError(
            errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {args}"
        )
    if origin is Literal:
        if value not in args:
            raise UsageError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise UsageError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        if args and len(args) != len(value):
            raise UsageError(f"{where} must have {len(args)} items, got {value!r}")
        return tuple(
            _coerce(v, a, where) for v, a in zip(value, args or [Any] * len(value), strict=True)
        )
    if origin in (list, dict) or annotation in (list, dict):
        expected = origin or annotation
        if not isinstance(value, expected):
            raise UsageError(f"{where} must be a {expected.__name__}, got {value!r}")
        return value
    if isinstance(annotation, type) and issubclass(annotation, Config):
        return value if isinstance(value, annotation) else annotation.from_dict(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{where} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{where} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise UsageError(f"{where} must be a string, got {value!r}")
        return value
    if annotation is Path:
        if not isinstance(value, str | Path):
            raise UsageError(f"{where} must be a path, got {value!r}")
        return Path(value)
    return value
