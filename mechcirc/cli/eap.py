"""``mechcirc eap``: a task's circuit by EAP / EAP-IG edge attribution, with faithfulness.

Loads the model at a revision, builds the task's prompt pairs, scores every edge, selects a
circuit (the smallest greedy circuit reaching ``--faithfulness-target`` unless ``--top-n`` or
``--threshold`` is given), evaluates it, and writes a run folder: ``manifest.json``,
``graph.json`` (EAP-IG format), ``scores.safetensors``, ``examples.jsonl``, ``circuit.svg``,
``circuit.dot`` and ``faithfulness.json``.
"""

from __future__ import annotations

import argparse
import time

from mechcirc.cli.common import add_model_args, positive_int

OUTPUT_FILES = (
    "graph.json",
    "scores.safetensors",
    "examples.jsonl",
    "circuit.svg",
    "circuit.dot",
    "faithfulness.json",
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eap",
        help="find a task's circuit with EAP / EAP-IG edge attribution and measure faithfulness",
    )
    add_model_args(parser)
    parser.add_argument(
        "--task", default="ioi", help="task name (see `mechcirc tasks list`) or an EAP-IG CSV"
    )
    parser.add_argument("--n", type=positive_int, default=32, help="prompt pairs (default 32)")
    parser.add_argument(
        "--method",
        default="eap-ig-inputs",
        help="eap-ig-inputs (default), eap, eap-ig-activations, clean-corrupted or exact",
    )
    parser.add_argument(
        "--ig-steps", type=positive_int, default=5, help="interpolation steps (default 5)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="seed of the task's examples")
    select = parser.add_argument_group("circuit selection (default: smallest greedy circuit)")
    choice = select.add_mutually_exclusive_group()
    choice.add_argument("--top-n", type=positive_int, help="take N edges (greedy growth)")
    choice.add_argument("--threshold", type=float, help="take every edge with |score| >= T")
    select.add_argument(
        "--faithfulness-target",
        type=float,
        default=0.8,
        help="normalized faithfulness the smallest circuit must reach (default 0.8)",
    )
    select.add_argument(
        "--signed", action="store_true", help="rank edges by signed score instead of |score|"
    )
    parser.add_argument("--out", default=None, help="run folder (default runs/eap-MODEL-...)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from mechcirc import tasks
    from mechcirc.analyses.eap.attribution import check_arguments

    # Fail on a bad method or task before loading anything.
    check_arguments(args.method, args.ig_steps, args.batch_size)
    task = tasks.get(args.task)

    import torch

    from mechcirc.cli.common import load_model_from_args
    from mechcirc.models.summary import model_summary
    from mechcirc.runs import RunFolder, default_run_dir

    torch.manual_seed(args.seed)
    started = time.perf_counter()
    model = load_model_from_args(args)
    load_s = time.perf_counter() - started
    pairs = tasks.load_pairs(args.task, model.tokenizer, n=args.n, seed=args.seed)
    out = args.out or default_run_dir("eap", args.model, task.name, args.revision)
    config = vars(args)
    run = RunFolder.create(
        out, command="eap", config=config, seed=args.seed, model=model_summary(model)
    )
    summary = find_circuit(run, model, pairs, args, load_s=load_s)
    _print_summary(run, args, pairs, summary)
    return 0


def find_circuit(run, model, pairs, args: argparse.Namespace, load_s: float = 0.0) -> dict:
    """Attribute, select, evaluate and write every output of the run; return the metrics."""
    from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, select_circuit
    from mechcirc.tasks.io import write_jsonl

    write_jsonl(pairs, run.file("examples.jsonl"))
    result = attribute(
        model, pairs, args.method, ig_steps=args.ig_steps, batch_size=args.batch_size
    )
    started = time.perf_counter()
    evaluator = FaithfulnessEvaluator(model, pairs, batch_size=args.batch_size)
    search = select_circuit(
        evaluator,
        result.graph,
        top_n=args.top_n,
        threshold=args.threshold,
        target=args.faithfulness_target,
        absolute=not args.signed,
    )
    circuit, faithfulness = search.circuit, search.faithfulness
    circuit.save_json(run.file("graph.json"))
    circuit.save_safetensors(run.file("scores.safetensors"))
    title = (
        f"{args.model}{'@' + args.revision if args.revision else ''} {pairs.task}: "
        f"{circuit.n_edges_in_graph} edges, normalized faithfulness {faithfulness.normalized:.2f}"
    )
    circuit.save_svg(run.file("circuit.svg"), title=title)
    circuit.save_dot(run.file("circuit.dot"), title=title)
    metrics = {
        "method": result.method,
        "ig_steps": result.ig_steps,
        "n_examples": result.n_examples,
        "metric": pairs.metric,
        "n_edges_total": circuit.layout.n_edges,
        "selection": search.selection,
        "target_reached": search.reached,
        "n_nodes_in_circuit": sum(circuit.node_in_graph.values()),
        **faithfulness.to_dict(),
    }
    run.save_json(
        "faithfulness.json",
        {**metrics, "search": search.evaluated},
    )
    run.finish(
        metrics=metrics,
        timings={
            "load_model_s": round(load_s, 3),
            "attribution_s": round(result.seconds, 3),
            "faithfulness_s": round(time.perf_counter() - started, 3),
        },
    )
    return metrics


def _print_summary(run, args: argparse.Namespace, pairs, metrics: dict) -> None:
    steps = f" (m={metrics['ig_steps']})" if metrics["ig_steps"] else ""
    revision = f"@{args.revision}" if args.revision else ""
    seconds = run.manifest["timings"]
    print(
        f"{metrics['method']}{steps} on {args.model}{revision}, task {pairs.task}, "
        f"{metrics['n_examples']} examples: attribution {seconds['attribution_s']:.1f} s, "
        f"faithfulness {seconds['faithfulness_s']:.1f} s"
    )
    print(
        f"baselines ({metrics['metric']}): clean {metrics['clean']:.4f}, "
        f"corrupted {metrics['corrupted']:.4f}"
    )
    print(
        f"circuit: {metrics['n_edges']} of {metrics['n_edges_total']} edges, "
        f"{metrics['n_nodes_in_circuit']} nodes ({metrics['selection']})"
    )
    reached = "" if metrics["target_reached"] in (None, True) else " (target not reached)"
    print(
        f"faithfulness: normalized {metrics['normalized']:.3f}, circuit/clean "
        f"{metrics['fraction_of_clean']:.3f}{reached}"
    )
    print(f"wrote {run.path}: manifest.json {' '.join(OUTPUT_FILES)}")
