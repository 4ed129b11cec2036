"""``mechcirc models list|info|build-offline``."""

from __future__ import annotations

import argparse

from mechcirc.cli.common import add_model_args, comma_list


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="list, inspect and build models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="short names and the hub ids they map to")
    listing.set_defaults(run=_list)

    info = sub.add_parser("info", help="resolved id and revision, shape and parameter count")
    info.add_argument("name", help="short name, hub id, local folder or .gguf file")
    add_model_args(info, model_flag=False)
    info.set_defaults(run=_info)

    build = sub.add_parser(
        "build-offline",
        help="write a hub cache with a tiny Pythia-architecture model (demos, offline tests)",
    )
    build.add_argument("--home", required=True, help="folder to use as HF_HOME")
    build.add_argument("--model", default="pythia-160m", help="name the tiny model is stored under")
    build.add_argument(
        "--revisions",
        default="step0,step1000,step143000",
        help="comma-separated revisions, each with different weights",
    )
    build.set_defaults(run=_build_offline)


def _list(args: argparse.Namespace) -> int:
    from mechcirc.models.names import SHORT_NAMES

    width = max(map(len, SHORT_NAMES))
    for short, hub_id in SHORT_NAMES.items():
        print(f"{short:<{width}}  {hub_id}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from mechcirc.models.loading import load_model
    from mechcirc.models.summary import model_summary

    model = load_model(
        args.name, args.revision, device=args.device, dtype=args.dtype, allow_bin=args.allow_bin
    )
    for key, value in model_summary(model).items():
        print(f"{key:<18} {value}")
    return 0


def _build_offline(args: argparse.Namespace) -> int:
    import os

    from mechcirc.models.offline_hub import build_offline_hub

    revisions = comma_list(args.revisions)
    home = build_offline_hub(args.home, model=args.model, revisions=revisions)
    print(f"built {args.model} at {', '.join(revisions)} in {os.path.abspath(home)}")
    print(f"use it with: HF_HOME={os.path.abspath(home)} HF_HUB_OFFLINE=1 mechcirc ...")
    return 0
