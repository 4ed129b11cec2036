"""Argument helpers shared by the subcommands."""

import argparse

import pytest

from mechcirc.cli import main
from mechcirc.cli.common import comma_list


def test_comma_list_casts_and_skips_empty_items():
    assert comma_list("a0.h1, a2.h3<q>,,") == ("a0.h1", "a2.h3<q>")
    assert comma_list("0,1, 2", int, "integers") == (0, 1, 2)
    assert comma_list("0.5,1e-2", float) == (0.5, 0.01)


def test_comma_list_names_what_was_expected():
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated integers, got '1,x'"):
        comma_list("1,x", int, "integers")


def test_bad_seeds_are_a_usage_error(capsys):
    assert main(["experiment", "curriculum", "--out", "unused", "--seeds", "1,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_seeds_parse_to_the_config_tuple():
    from mechcirc.cli import build_parser

    args = build_parser().parse_args(["experiment", "curriculum", "--out", "x", "--seeds", "3, 4"])
    assert args.seeds == (3, 4)
