"""Configs validate on construction, round-trip through JSON, and refuse ill-typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from mechcirc.config import Config, parse_assignments, require_positive_int, require_range
from mechcirc.errors import UsageError


@dataclass(frozen=True)
class Inner(Config):
    width: int = 4


@dataclass(frozen=True)
class Demo(Config):
    steps: int = 10
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    seeds: tuple[int, ...] = (0,)
    mode: Literal["a", "b"] = "a"
    limit: int | None = None
    path: Path = Path("x")
    inner: Inner = field(default_factory=Inner)

    PRESETS = {"long": {"steps": 1000, "lr": 3e-4}}

    def validate(self) -> None:
        require_positive_int("steps", self.steps)
        require_range("lr", self.lr, 0, None, low_open=True)


def test_round_trip_through_json_is_equal():
    config = Demo(steps=3, betas=(0.5, 0.6), seeds=(1, 2), mode="b", limit=7, inner=Inner(8))
    text = json.dumps(config.to_dict())
    again = Demo.from_dict(json.loads(text))
    assert again == config and isinstance(again.seeds, tuple) and isinstance(again.inner, Inner)
    assert json.loads(text)["path"] == "x" and again.path == Path("x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stepz": 3}, "unknown field"),
        ({"steps": "3"}, "Demo.steps must be an integer"),
        ({"steps": True}, "must be an integer"),
        ({"lr": "abc"}, "Demo.lr must be a number"),
        ({"mode": "c"}, "must be one of 'a', 'b'"),
        ({"betas": [0.9]}, "must have 2 items"),
        ({"limit": 1.5}, "must be an integer"),
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"lr": 0}, r"lr must be in \(0, inf\]"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(data, message):
    with pytest.raises(UsageError, match=message):
        Demo.from_dict(data)


def test_presets_and_replace():
    long = Demo.preset("long", seeds=[3])
    assert (long.steps, long.lr, long.seeds) == (1000, 3e-4, (3,))
    assert long.replace(steps=5).steps == 5 and long.steps == 1000
    with pytest.raises(UsageError, match="unknown Demo preset 'short': choose one of long"):
        Demo.preset("short")
    with pytest.raises(UsageError, match="steps must be a positive integer"):
        long.replace(steps=-1)


def test_set_assignments_parse_json_values():
    known = ("p", "name", "fractions")
    assert parse_assignments(["p=59", 'name="x"', "fractions=[0.1,0.2]"], known) == {
        "p": 59,
        "name": "x",
        "fractions": [0.1, 0.2],
    }
    for bad, message in [
        ("q=1", "KEY one of p, name"),
        ("p", "KEY=JSON"),
        ("name=abc", "not JSON"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_assignments([bad], known)
