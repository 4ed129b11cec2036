"""Time circuit-graph selection, pruning, file I/O and rendering on real model layouts.

Layouts: Pythia-160m (12 layers x 12 heads, parallel), Pythia-1.4b (24 x 16, parallel) and a
Llama-like 32 x 32 with 8 KV heads (sequential). Random scores; one thread. Prints a table and
writes ``benchmarks/results/graph_selection.json``.

    .venv/bin/python benchmarks/graph_selection.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mechcirc.graph import CircuitGraph, GraphLayout

LAYOUTS = {
    "pythia-160m": GraphLayout(12, 12, 12, True),
    "pythia-1.4b": GraphLayout(24, 16, 16, True),
    "llama-32x32-gqa8": GraphLayout(32, 32, 8, False),
}


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def measure(layout: GraphLayout, n: int, folder: Path) -> dict:
    scores = torch.randn(layout.n_src, layout.n_dst, generator=torch.Generator().manual_seed(0))
    graph = CircuitGraph(layout, scores * layout.real_edges)
    circuit = graph.select("greedy", n=n)
    return {
        "edges": layout.n_edges,
        "greedy_order_s": seconds(lambda: CircuitGraph(layout, graph.scores).greedy_order()),
        "greedy_select_cached_order_s": seconds(lambda: graph.select("greedy", n=n)),
        "topn_pruned_s": seconds(lambda: graph.select("topn", n=n)),
        "save_json_s": seconds(lambda: graph.save_json(folder / "g.json")),
        "load_json_s": seconds(lambda: CircuitGraph.load_json(folder / "g.json")),
        "json_mb": round((folder / "g.json").stat().st_size / 2**20, 2),
        "save_safetensors_s": seconds(lambda: graph.save_safetensors(folder / "g.st")),
        "render_svg_and_dot_s": seconds(lambda: (circuit.to_svg(), circuit.to_dot())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the Pythia-160m layout")
    parser.add_argument("--n", type=int, default=500, help="circuit size for selection")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = ["pythia-160m"] if args.quick else list(LAYOUTS)
    with tempfile.TemporaryDirectory() as folder:
        results = {name: measure(LAYOUTS[name], args.n, Path(folder)) for name in names}
    for name, row in results.items():
        print(name, ", ".join(f"{key}={value}" for key, value in row.items()))
    if not args.quick:  # a smoke run never replaces the recorded figures
        out = Path(__file__).parent / "results" / "graph_selection.json"
        out.write_text(json.dumps({"n": args.n, "threads": 1, "layouts": results}, indent=2) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
