"""Circuits over training from Python: a sweep over checkpoints and sizes, then a DuckDB query.

The notebook-style version of ``mechcirc sweep``: build the plan (models x revisions x tasks x
analyses), run it into a resumable sweep folder, then read its tidy tables with DuckDB and pandas.

    python examples/sweep_over_checkpoints.py --quick --home /tmp/hub --out runs/sweep-example
    python examples/sweep_over_checkpoints.py --models pythia-70m,pythia-160m --revisions sparse

``--quick`` writes an offline hub cache at ``--home`` with two tiny random Pythia-shaped models
(2 and 3 layers) at four revisions, and sweeps them (about a minute on one CPU thread). A real
checkpoint needs the hub or a pre-downloaded cache (``HF_HOME``).
"""

from __future__ import annotations

import argparse
import os

QUICK_REVISIONS = ("step0", "step512", "step2000", "step143000")


def build_quick_hub(home: str) -> None:
    """Two Pythia-shaped models of different sizes, random weights per revision."""
    from mechcirc.models.offline_hub import TinyPythiaShape, build_offline_hub

    for model, layers in (("pythia-70m", 2), ("pythia-160m", 3)):
        shape = TinyPythiaShape(n_layers=layers, n_heads=2, d_model=32, d_mlp=64, n_ctx=64)
        build_offline_hub(home, model=model, revisions=QUICK_REVISIONS, shape=shape)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="pythia-70m,pythia-160m")
    parser.add_argument("--revisions", default="sparse")
    parser.add_argument("--n", type=int, default=32, help="prompt pairs per task")
    parser.add_argument("--quick", action="store_true", help="tiny offline models, 8 pairs")
    parser.add_argument("--home", help="HF_HOME for --quick's offline hub cache")
    parser.add_argument("--out", default="runs/sweep-example")
    args = parser.parse_args(argv)
    if args.quick:  # before huggingface_hub is imported: it reads HF_HOME once
        if not args.home:
            parser.error("--quick needs --home (a folder for the offline hub cache)")
        os.environ.update(HF_HOME=args.home, HF_HUB_OFFLINE="1")
    import duckdb
    import torch

    from mechcirc.sweep import SweepOptions, build_plan, run_sweep

    torch.set_num_threads(1)  # shared CPUs: more threads oversubscribe
    if args.quick:
        build_quick_hub(args.home)
    revisions = ",".join(QUICK_REVISIONS) if args.quick else args.revisions

    # 1. The plan: every revision is checked against each model's checkpoints here.
    plan = build_plan(
        models=args.models.split(","),
        revisions=revisions,
        tasks=("ioi", "greater-than"),
        analyses=("behaviour", "eap", "heads"),
        n=8 if args.quick else args.n,
        ig_steps=2 if args.quick else 5,
        head_scores=("induction", "previous_token", "copy"),
    )
    print(f"plan: {len(plan.units())} units ({', '.join(plan.models)}; {len(plan.tasks)} tasks)")

    # 2. Run it (rerunning resumes: done units are skipped).
    result = run_sweep(plan, args.out, SweepOptions(threads=1), progress=False)
    print("units: " + ", ".join(f"{count} {name}" for name, count in result.status.items()))

    # 3. The tables are Parquet: any tool reads them. Accuracy over training with DuckDB:
    query = f"""
        select model, task, step, tokens, accuracy from '{args.out}/behaviour.parquet'
        order by model, task, step
    """
    for model, task, step, tokens, accuracy in duckdb.sql(query).fetchall():
        print(f"accuracy {model} {task} step {step} ({tokens:.2e} tokens): {accuracy:.3f}")

    # 4. How the circuit changes: weighted Jaccard with the final checkpoint's circuit.
    import pandas as pd

    evolution = pd.read_parquet(f"{args.out}/evolution.parquet")
    final = evolution.groupby(["model", "task"])["weighted_jaccard_final"].last()
    for (model, task), value in final.items():
        print(f"weighted Jaccard with the final circuit at the end: {model} {task} {value:.3f}")
    print(f"figures: {args.out}/figures ({len(os.listdir(f'{args.out}/figures'))} files)")


if __name__ == "__main__":
    main()
