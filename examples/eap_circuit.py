"""Find a task's circuit with EAP-IG from Python: attribute, check, search, render.

The notebook-style version of ``mechcirc eap``: load a model, build IOI prompt pairs, score
every edge with ``eap-ig-inputs`` (and ``eap`` for comparison), compare both with exact
patching on a small model, find the smallest greedy circuit with normalized faithfulness
>= 0.8, and write ``graph.json`` and ``circuit.svg``.

    python examples/eap_circuit.py --quick --out runs/eap-example        # tiny random model
    python examples/eap_circuit.py --model pythia-160m --revision step143000 --n 64

``--quick`` uses a 2-layer random GPT-NeoX (the Pythia architecture); a real checkpoint needs
the hub or a pre-downloaded cache (``HF_HOME``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, exact_scores, smallest_circuit
from mechcirc.tasks import load_pairs


def load(args: argparse.Namespace):
    if args.quick:
        from mechcirc.models.tiny import tiny_model

        return tiny_model("gpt-neox", n_layers=2)
    from mechcirc import load_model

    return load_model(args.model, args.revision)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default="step143000")
    parser.add_argument("--n", type=int, default=32, help="IOI prompt pairs")
    parser.add_argument("--quick", action="store_true", help="tiny random model, 8 pairs")
    parser.add_argument("--out", default="runs/eap-example")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # shared CPUs: more threads oversubscribe
    model = load(args)
    pairs = load_pairs("ioi", model.tokenizer, n=8 if args.quick else args.n, seed=0)

    # 1. Edge scores: per-example mean of (a_clean - a_corrupted) . d metric / d input.
    ig = attribute(model, pairs, "eap-ig-inputs", ig_steps=5)
    eap = attribute(model, pairs, "eap")
    real = ig.graph.layout.real_edges
    print(f"{real.sum()} edges; eap-ig-inputs took {ig.seconds:.1f} s, eap {eap.seconds:.1f} s")

    # 2. On a small model, compare with the ground truth: one edge patched at a time.
    if args.quick:
        exact = exact_scores(model, pairs)
        ig_r, eap_r = (pearson(r.scores[real], exact[real]) for r in (ig, eap))
        print(f"Pearson with exact patching: eap-ig-inputs {ig_r:.3f}, eap {eap_r:.3f}")

    # 3. The smallest greedy circuit that keeps 80% of the clean - corrupted gap.
    evaluator = FaithfulnessEvaluator(model, pairs)
    search = smallest_circuit(evaluator, ig.graph, target=0.8)
    f = search.faithfulness
    print(
        f"clean {f.clean:.4f}, corrupted {f.corrupted:.4f}; circuit of {f.n_edges} edges: "
        f"normalized faithfulness {f.normalized:.3f}, circuit/clean {f.fraction_of_clean:.3f}"
    )
    for name, score in search.circuit.in_graph_edges()[:5]:
        print(f"  {name:<24} {score:+.5f}")

    # 4. Files: EAP-IG JSON (loads in hannamw/EAP-IG) and a standalone SVG.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    search.circuit.save_json(out / "graph.json")
    search.circuit.save_svg(out / "circuit.svg")
    print(f"wrote {out / 'graph.json'} and {out / 'circuit.svg'}")


if __name__ == "__main__":
    main()
