"""Find a task's circuit with EAP-IG from Python: what ``mechcirc eap`` does, in library calls.

Load a model, build IOI prompt pairs, and call ``find_circuit`` with an ``EAPConfig`` (the
pipeline the CLI calls): EAP-IG scores every edge, the smallest greedy circuit with normalized
faithfulness >= 0.8 is selected and evaluated, and ``graph.json`` (EAP-IG's format) and
``circuit.svg`` are written. On a small model the edge scores are also compared with exact
patching (one edge patched at a time), the ground truth they approximate.

    python examples/eap_circuit.py --quick --out runs/eap-example        # tiny random model
    python examples/eap_circuit.py --model pythia-160m --revision step143000 --n 64

``--quick`` uses a 2-layer random GPT-NeoX (the Pythia architecture), which has no IOI
behaviour, so it keeps a fixed 24-edge circuit instead of searching; a real checkpoint needs
the hub or a pre-downloaded cache (``HF_HOME``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses.eap import EAPConfig, attribute, exact_scores, find_circuit
from mechcirc.tasks import load_pairs


def load(args: argparse.Namespace):
    if args.quick:
        from mechcirc.models.tiny import tiny_model

        return tiny_model("gpt-neox", n_layers=2)
    from mechcirc import load_model

    return load_model(args.model, args.revision)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def main(argv: list[str] | None = None):
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

    # 1. The pipeline `mechcirc eap` runs: attribution, circuit selection, faithfulness.
    fixed = {"selection": "greedy", "n_edges": 24} if args.quick else {}
    config = EAPConfig(method="eap-ig-inputs", ig_steps=5, **fixed)
    found = find_circuit(model, pairs, config, progress=not args.quick)
    metrics = found.metrics()
    print(f"{metrics['n_edges_total']} edges scored in {found.timings['attribution_s']:.1f} s")
    print(
        f"clean {metrics['clean']:.4f}, corrupted {metrics['corrupted']:.4f}; circuit of "
        f"{metrics['n_edges']} edges: normalized faithfulness {metrics['normalized']:.3f}, "
        f"circuit/clean {metrics['fraction_of_clean']:.3f}"
    )
    for name, score in found.circuit.in_graph_edges()[:5]:
        print(f"  {name:<24} {score:+.5f}")

    # 2. On a small model, the ground truth the scores approximate: one edge patched at a time.
    if args.quick:
        exact = exact_scores(model, pairs, progress=False)
        real = found.attribution.graph.layout.real_edges
        eap = attribute(model, pairs, "eap", progress=False)
        ig_r = pearson(found.attribution.scores[real], exact[real])
        eap_r = pearson(eap.scores[real], exact[real])
        print(f"Pearson with exact patching: eap-ig-inputs {ig_r:.3f}, eap {eap_r:.3f}")

    # 3. Files: EAP-IG JSON (loads in hannamw/EAP-IG) and a standalone SVG.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    found.circuit.save_json(out / "graph.json")
    found.circuit.save_svg(out / "circuit.svg")
    print(f"wrote {out / 'graph.json'} and {out / 'circuit.svg'}")
    return found


if __name__ == "__main__":
    main()
