"""L3D on the paper's toy models: train the toy, decompose its per-sample gradients, check them.

    python examples/l3d_toys.py --toy tms                     # ~1-2 min on one CPU thread
    python examples/l3d_toys.py --toy circuit-superposition
    python examples/l3d_toys.py --toy squares --quick         # seconds: a smoke run

The same runs, with every output written to a run folder, are
``mechcirc l3d --toy NAME --steps 3000 --batch-size 1024 --n-eval 8192 --out DIR``.
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.analyses import l3d
from mechcirc.analyses.l3d.toy_metrics import toy_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", default="tms", choices=sorted(l3d.TOYS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = l3d.get_toy(args.toy)
    target, model = l3d.toy_target(args.toy, seed=args.seed, toy_steps=300 if args.quick else 5000)
    config = l3d.L3DConfig(
        n_subnetworks=spec.n_subnetworks,  # the paper's settings for this toy
        rank=spec.rank,
        topk=spec.topk,
        steps=30 if args.quick else 3000,
        batch_size=256 if args.quick else 1024,
        lr=1e-2,
        seed=args.seed,
    )
    state = l3d.decompose(target, config, progress=not args.quick)
    report = l3d.evaluate(
        target,
        state.subnetworks,
        config,
        n_eval=512 if args.quick else 8192,
        n_references=1 if args.quick else 4,
        interventions=False,
    )
    summary = toy_summary(args.toy, model, state.subnetworks, report.inputs, report.impact)
    print(
        f"{args.toy}: reconstruction loss {report.loss:.3f} (paper {spec.paper_loss}), "
        f"dead subnetworks {report.dead}/{config.n_subnetworks}"
    )
    for key, value in summary.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
