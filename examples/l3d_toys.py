"""L3D on the paper's toy models: train the toy, decompose its per-sample gradients, check them.

    python examples/l3d_toys.py --toy circuit-superposition --preset paper  # the paper's settings
    python examples/l3d_toys.py --toy tms                                   # fast settings, ~2 min
    python examples/l3d_toys.py --toy tms --quick                           # ~30 s: a smoke run

The same runs, with every output (figures included) written to a run folder, are
``mechcirc l3d --toy NAME --preset paper|fast --seed S --out DIR``.
"""

from __future__ import annotations

import argparse

import torch

from mechcirc.analyses import l3d
from mechcirc.analyses.l3d.toy_metrics import toy_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", default="tms", choices=sorted(l3d.TOYS))
    parser.add_argument("--preset", default="fast", choices=["paper", "fast"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small budgets (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = l3d.get_toy(args.toy)
    training = l3d.ToyTrainingConfig.preset(args.preset)
    config = l3d.L3DConfig.preset(
        args.preset, n_subnetworks=spec.n_subnetworks, rank=spec.rank, topk=spec.topk,
        seed=args.seed, interventions=False,
    )  # fmt: skip
    if args.quick:
        training = training.replace(steps=1500)
        config = config.replace(steps=400, batch_size=512, lr=0.02, n_eval=2048, n_references=2)
    target, model = l3d.toy_target(l3d.ToyInputs(args.toy, args.seed, training))
    result = l3d.decompose(target, config, progress=not args.quick)
    summary = toy_summary(spec, model, result.subnetworks, result.inputs, result.impact)
    print(f"{args.toy}: held-out reconstruction loss {result.loss:.4f} (paper {spec.paper_loss})")
    print(f"dead subnetworks: {result.dead}/{config.n_subnetworks}")
    for key, value in summary.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
