"""``mechcirc eap``: a task's circuit by EAP / EAP-IG edge attribution, with faithfulness.

The flags map onto :class:`~mechcirc.analyses.eap.EAPConfig` and the run's inputs (a
:class:`~mechcirc.models.spec.ModelSpec` and a :class:`~mechcirc.tasks.spec.TaskSpec`); the work
is :func:`~mechcirc.analyses.eap.find_circuit`, exactly what a notebook calls. Every flag, the
task and ``--out`` are checked before the model loads.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechcirc.cli.common import (
    add_model_args,
    add_out_args,
    finite_float,
    model_run,
    positive_int,
    recorded_inputs,
)

__all__ = ["COMMAND", "config_from_args", "execute", "register", "rerun"]

COMMAND = "eap"


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
    choice.add_argument("--greedy", type=positive_int, metavar="N", help="N edges grown greedily")
    choice.add_argument("--top-n", type=positive_int, metavar="N", help="the N best edges")
    choice.add_argument("--threshold", type=finite_float, help="every edge with |score| >= T")
    select.add_argument(
        "--criterion",
        default="normalized",
        choices=["normalized", "fraction-of-clean"],
        help="what the smallest circuit must reach: normalized faithfulness (default) or "
        "circuit/clean as Tigges et al. (linear search in --search-step edges)",
    )
    select.add_argument(
        "--faithfulness-target",
        type=finite_float,
        default=0.8,
        help="value the smallest circuit must reach, in (0, 1] (default 0.8)",
    )
    select.add_argument("--search-step", type=positive_int, default=25)
    select.add_argument("--search-cap", type=positive_int, default=1600)
    select.add_argument(
        "--signed", action="store_true", help="rank edges by signed score instead of |score|"
    )
    add_out_args(parser, "runs/eap-MODEL-TASK-REVISION-TIME")
    parser.add_argument(
        "--no-report", action="store_true", help="do not write report.html into the run folder"
    )
    parser.set_defaults(run=_run)


def config_from_args(args: argparse.Namespace):
    """The :class:`EAPConfig` the flags describe (values checked here)."""
    from mechcirc.analyses.eap import EAPConfig

    selection, n_edges = "smallest", None
    if args.greedy is not None:
        selection, n_edges = "greedy", args.greedy
    elif args.top_n is not None:
        selection, n_edges = "topn", args.top_n
    elif args.threshold is not None:
        selection = "threshold"
    return EAPConfig(
        method=args.method,
        ig_steps=args.ig_steps,
        batch_size=args.batch_size,
        selection=selection,
        n_edges=n_edges,
        threshold=args.threshold,
        target=args.faithfulness_target,
        criterion=args.criterion,
        search_step=args.search_step,
        search_cap=args.search_cap,
        signed=args.signed,
    )


def _run(args: argparse.Namespace) -> int:
    from mechcirc.cli.common import model_spec_from_args
    from mechcirc.runs import default_run_dir
    from mechcirc.tasks.spec import TaskSpec

    config = config_from_args(args)
    inputs = {
        "model": model_spec_from_args(args),
        "task": TaskSpec(args.task, n=args.n, seed=args.seed),
    }
    out = args.out or default_run_dir("eap", args.model, Path(args.task).stem, args.revision)
    return execute(config, inputs, out, overwrite=args.overwrite, report=not args.no_report)


def execute(
    config,
    inputs: dict[str, Any],
    out: str | Path,
    *,
    overwrite: bool = False,
    report: bool = True,
) -> int:
    """Run ``mechcirc eap`` from its config and inputs into ``out`` (also ``mechcirc rerun``)."""
    import torch

    from mechcirc.analyses.eap import find_circuit
    from mechcirc.analyses.eap.memory_plan import check_run_memory
    from mechcirc.runs import prepare_out_dir

    model_spec, task_spec = inputs["model"], inputs["task"]
    prepare_out_dir(out, overwrite=overwrite)
    check_run_memory(model_spec, task_spec, config)
    torch.manual_seed(task_spec.seed)
    opened = model_run(out, COMMAND, config, inputs, seed=task_spec.seed, overwrite=overwrite)
    with opened as (run, model):
        pairs = task_spec.load(model.tokenizer)
        revision = f"@{model_spec.revision}" if model_spec.revision else ""
        result = find_circuit(model, pairs, config, run)
        if report:
            from mechcirc.report import write_run_report

            write_run_report(run.path, run.file("report.html"), tokenizer=model.tokenizer)
        run.finish()
    edges = result.circuit.in_graph_edges()
    _print_summary(run, f"{model_spec.name}{revision}", pairs.task, result.metrics(), edges)
    return 0


def rerun(manifest: dict, out: str | Path, *, overwrite: bool = False) -> int:
    """Run a recorded ``eap`` manifest again into ``out``."""
    from mechcirc.analyses.eap import EAPConfig

    config = EAPConfig.from_dict(manifest["config"])
    return execute(config, recorded_inputs(manifest), out, overwrite=overwrite)


def _print_summary(run, model: str, task: str, metrics: dict, edges: list) -> None:
    steps = f" (m={metrics['ig_steps']})" if metrics["ig_steps"] else ""
    seconds = run.manifest["timings"]
    print(
        f"{metrics['method']}{steps} on {model}, task {task}, "
        f"{metrics['n_examples']} examples: attribution {seconds['attribution_s']:.1f} s, "
        f"faithfulness {seconds['faithfulness_s']:.1f} s"
    )
    gap = metrics["baseline_gap"]
    print(
        f"baselines ({metrics['metric']}): clean {gap['clean']:.4f}, "
        f"corrupted {gap['corrupted']:.4f}"
    )
    if gap["problem"]:
        print(f"warning: normalized faithfulness is unreliable: {gap['problem']}")
    print(
        f"circuit: {metrics['n_edges']} of {metrics['n_edges_total']} edges, "
        f"{metrics['n_nodes_in_circuit']} nodes ({metrics['selection']})"
    )
    searched = metrics["selection"].startswith("smallest")
    reached = " (target not reached)" if searched and not metrics["target_reached"] else ""
    print(
        f"faithfulness: normalized {metrics['normalized']:.3f}, circuit/clean "
        f"{metrics['fraction_of_clean']:.3f}{reached}"
    )
    if edges:  # (name, score), largest |score| first: the terminal names the circuit
        listed = ", ".join(f"{name} {score:+.3g}" for name, score in edges[:8])
        more = f" (+{len(edges) - 8} more in graph.json)" if len(edges) > 8 else ""
        print(f"edges: {listed}{more}")
    print(f"wrote {run.path}: {', '.join(run.manifest['outputs'])}")
