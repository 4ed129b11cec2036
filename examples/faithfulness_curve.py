"""A circuit's faithfulness against its size, and the two smallest-circuit searches.

Scores every edge with ``eap``, evaluates the greedy circuits of a range of sizes in one call
(each batch's corrupted run is recorded once for all of them), checks that the empty circuit
is the corrupted run and the full one the clean run, then runs the ``normalized`` binary search
and Tigges et al.'s ``fraction-of-clean`` linear search. Also prints the memory lower bound
``mechcirc eap`` checks before loading a model.

    python examples/faithfulness_curve.py --quick                     # tiny random model
    python examples/faithfulness_curve.py --model SmolLM2-135M-Instruct.Q4_1.gguf  # see README

``--quick`` uses a 2-layer random GPT-NeoX; a real model needs the hub, a pre-downloaded cache
(``HF_HOME``) or a local ``.gguf`` file.
"""

from __future__ import annotations

import argparse
import time

import torch

from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, smallest_circuit
from mechcirc.analyses.eap.memory_plan import plan_memory
from mechcirc.models.shape import ModelShape
from mechcirc.tasks import load_pairs


def load(args: argparse.Namespace):
    if args.quick:
        from mechcirc.models.tiny import tiny_model

        return tiny_model("gpt-neox", n_layers=2)
    from mechcirc import load_model

    return load_model(args.model, args.revision)


def curve_sizes(n_edges: int, step: int) -> list[int]:
    """0, step, 2 step, 4 step, ... and every edge."""
    sizes, size = [0], step
    while size < n_edges:
        sizes.append(size)
        size *= 2
    return [*sizes, n_edges]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--n", type=int, default=32, help="IOI prompt pairs")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="tiny random model, 8 pairs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # shared CPUs: more threads oversubscribe
    model = load(args)
    cfg = model.cfg
    pairs = load_pairs("ioi", model.tokenizer, n=8 if args.quick else args.n, seed=0)
    shape = ModelShape(cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.n_ctx, cfg.d_vocab)
    plan = plan_memory(shape, batch_size=args.batch_size, n_positions=pairs.clean.shape[1])
    print(f"memory lower bound of `mechcirc eap`: {plan.describe()}")

    graph = attribute(model, pairs, "eap", batch_size=args.batch_size, progress=False).graph
    started = time.perf_counter()
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=args.batch_size)
    print(f"baselines: clean {evaluator.clean:.9f}, corrupted {evaluator.corrupted:.9f}")

    # 1. The curve: every size evaluated batch by batch in one pass over the data.
    sizes = curve_sizes(graph.layout.n_edges, 5 if args.quick else 25)
    curve = evaluator.evaluate_many([graph.select("greedy", n=k) for k in sizes])
    print("greedy size   edges         circuit   normalized   circuit/clean")
    for size, point in zip(sizes, curve, strict=True):
        values = f"{point.circuit:15.9f} {point.normalized:12.4f} {point.fraction_of_clean:15.4f}"
        print(f"{size:11d} {point.n_edges:7d} {values}")
    assert curve[0].circuit == evaluator.corrupted and curve[-1].circuit == evaluator.clean

    # 2. The smallest circuits: binary search (normalized), linear search (circuit / clean).
    step, cap = (2, 40) if args.quick else (25, 1600)
    for criterion, options in (
        ("normalized", {}),
        ("fraction-of-clean", {"step": step, "cap": cap}),
    ):
        search = smallest_circuit(evaluator, graph, target=0.8, criterion=criterion, **options)
        score = search.faithfulness.score(criterion)
        print(
            f"smallest circuit ({criterion} >= 0.8): {search.size} edges, reached "
            f"{search.reached}, {score:.4f} after {len(search.evaluated)} evaluations"
        )
    print(f"faithfulness took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
