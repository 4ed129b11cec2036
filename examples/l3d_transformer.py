"""L3D over one attention block of a TransformerLens model, then intervene along the subnetworks.

    python examples/l3d_transformer.py --out runs/l3d-attn           # tiny GPT-NeoX, ~10 min
    python examples/l3d_transformer.py --quick --out /tmp/l3d-attn   # seconds: a smoke run

Parameters are chosen by TransformerLens name pattern (``blocks.0.attn.*`` = q, k, v, o weights
and biases); a real model works the same way with ``mechcirc.load_model(...)`` and real text
(``l3d.text_tokens``) or a task's prompts (``l3d.task_tokens(model, "ioi", n)``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses import l3d
from mechcirc.analyses.l3d.plots import plot_intervention_curves
from mechcirc.models.tiny import tiny_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="blocks.0.attn.*")
    parser.add_argument("--out", default="runs/l3d-attention")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = tiny_model("gpt-neox", n_layers=2, seed=0)
    data = l3d.random_tokens(model, n=32 if args.quick else 128, seq_len=6 if args.quick else 8)
    target = l3d.token_target(model, args.params, data)
    print(f"decomposing {target.group.n_params} parameters: {', '.join(target.group.names)}")

    config = l3d.L3DConfig(
        n_subnetworks=2 if args.quick else 8,
        rank=1,
        topk=0.25,
        lr=0.03,
        steps=5 if args.quick else 150,
        batch_size=16 if args.quick else 32,
    )
    state = l3d.decompose(target, config, progress=not args.quick)
    report = l3d.evaluate(
        target,
        state.subnetworks,
        config,
        n_eval=16 if args.quick else 128,
        n_references=1 if args.quick else 4,
        deltas=[0.01, 0.03] if args.quick else None,
    )
    print(
        f"reconstruction loss {report.loss:.3f}; activation frequency "
        f"{[round(float(f), 3) for f in report.frequency]}"
    )
    print(report.curves.to_string(index=False))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in plot_intervention_curves(report.curves, out / "interventions"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
