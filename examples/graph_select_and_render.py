"""Select a circuit from edge scores and write it as EAP-IG JSON, safetensors, SVG and .dot.

Reads a graph written by ``mechcirc eap`` (``--graph runs/.../graph.json``, EAP-IG JSON from
hannamw/EAP-IG works too) or, without ``--graph``, makes random scores on a Pythia-like layout
(``--quick``: a 2-layer one). Then selects a circuit (greedy growth from the logits by default)
and writes ``graph.json``, ``scores.safetensors``, ``circuit.svg`` and ``circuit.dot``.

    python examples/graph_select_and_render.py --quick --out runs/graph-demo
    python examples/graph_select_and_render.py --graph runs/eap-.../graph.json --method topn --n 200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.graph import SELECTION_METHODS, CircuitGraph, GraphLayout


def random_scores_graph(layout: GraphLayout, seed: int) -> CircuitGraph:
    """Heavy-tailed random scores: a few strong edges, as real attributions have."""
    generator = torch.Generator().manual_seed(seed)
    shape = (layout.n_src, layout.n_dst)
    magnitude = torch.empty(shape).exponential_(generator=generator) ** 3
    sign = torch.where(torch.rand(shape, generator=generator) < 0.8, 1.0, -1.0)
    return CircuitGraph(layout, magnitude * sign * layout.real_edges)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", type=Path, help="EAP-IG JSON to read (default: random scores)")
    parser.add_argument("--method", choices=SELECTION_METHODS, default="greedy")
    parser.add_argument("--n", type=int, help="edges for topn / greedy (default 60; 20 quick)")
    parser.add_argument("--threshold", type=float, default=1.0, help="|score| for threshold")
    parser.add_argument("--signed", action="store_true", help="rank by signed score, not |score|")
    parser.add_argument("--out", type=Path, default=Path("runs/graph-demo"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small random layout, few edges")
    return parser.parse_args()


def main() -> None:
    torch.set_num_threads(1)
    args = parse_args()
    if args.graph:
        graph = CircuitGraph.load_json(args.graph)
    else:
        layers, heads = (2, 4) if args.quick else (12, 12)
        layout = GraphLayout(
            n_layers=layers, n_heads=heads, n_kv_heads=heads, parallel_attn_mlp=True
        )
        graph = random_scores_graph(layout, args.seed)
    n = args.n if args.n is not None else (20 if args.quick else 60)
    if args.method == "threshold":
        circuit = graph.select("threshold", threshold=args.threshold, absolute=not args.signed)
    else:
        circuit = graph.select(args.method, n=n, absolute=not args.signed)

    args.out.mkdir(parents=True, exist_ok=True)
    written = [
        circuit.save_json(args.out / "graph.json"),
        circuit.save_safetensors(args.out / "scores.safetensors"),
        circuit.save_svg(args.out / "circuit.svg", title=f"{args.method} circuit"),
        circuit.save_dot(args.out / "circuit.dot", title=f"{args.method} circuit"),
    ]
    nodes = [name for name, kept in circuit.node_in_graph.items() if kept]
    print(f"{circuit}: {len(nodes)} nodes")
    for name, score in circuit.in_graph_edges()[:5]:
        print(f"  {name:28s} {score:+.4g}")
    print("wrote", ", ".join(str(path) for path in written))


if __name__ == "__main__":
    main()
