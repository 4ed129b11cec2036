"""``mechcirc models list|info|build-offline|train-micro``."""

from __future__ import annotations

import argparse

from mechcirc.cli.common import add_model_args, comma_list

__all__ = ["register"]


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
        help="write a hub cache with the trained micro-pythia (every checkpoint) and a tiny "
        "random Pythia-architecture model (demos, offline tests)",
    )
    build.add_argument("--home", required=True, help="folder to use as HF_HOME")
    build.add_argument(
        "--model", default="pythia-160m", help="name the tiny random model is stored under"
    )
    build.add_argument(
        "--revisions",
        default="step0,step1000,step143000",
        help="comma-separated revisions of the random model, each with different weights",
    )
    build.add_argument(
        "--micro-revisions",
        default="all",
        help="micro-pythia checkpoints to write: all (default), none, or e.g. step0,step3000",
    )
    build.set_defaults(run=_build_offline)

    train = sub.add_parser(
        "train-micro",
        help="retrain the micro-pythia from its seed and compare with the shipped weights",
    )
    train.add_argument("--out", required=True, help="folder for the checkpoints and spec")
    train.add_argument(
        "--until",
        type=int,
        default=None,
        help="stop after the last checkpoint step <= UNTIL (a shortened schedule)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train_micro)


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
    micro = {"all": True, "none": False}.get(args.micro_revisions.strip().lower())
    if micro is None:
        micro = comma_list(args.micro_revisions)
    home = build_offline_hub(args.home, model=args.model, revisions=revisions, micro=micro)
    print(f"built {args.model} (random weights) at {', '.join(revisions)}")
    if micro:
        from mechcirc.models.micro_spec import load_spec

        written = load_spec().revisions() if micro is True else micro
        print(f"built micro-pythia (trained) at {', '.join(written)}")
    print(f"in {os.path.abspath(home)}; use it with:")
    print(f"  HF_HOME={os.path.abspath(home)} HF_HUB_OFFLINE=1 mechcirc ...")
    return 0


def _train_micro(args: argparse.Namespace) -> int:
    import torch

    from mechcirc.analyses.micro_pythia import compare_with_shipped, train_micro_pythia

    torch.set_num_threads(1)  # bit-exact reproduction is defined on one CPU thread
    trained = train_micro_pythia(out=args.out, until=args.until, progress=not args.no_progress)
    steps = trained.spec.steps
    print(
        f"trained micro-pythia to step {steps[-1]} ({len(steps)} checkpoints) in "
        f"{trained.seconds:.0f} s; wrote {args.out}"
    )
    different = compare_with_shipped(trained.checkpoints)
    if different:
        print(f"differs from the shipped weights in {len(different)} tensors, e.g. {different[0]}")
        return 1
    print(f"bit-identical to the shipped weights at steps {', '.join(map(str, steps))}")
    return 0
