"""``mechcirc tasks list|show|export``: the registered tasks, decoded example pairs, CSV export."""

from __future__ import annotations

import argparse
import inspect

from mechcirc.cli.common import add_model_args, positive_int
from mechcirc.errors import UsageError

__all__ = ["BUNDLED_TOKENIZERS", "TASK_OPTIONS", "load_tokenizer", "register"]

# Task options the CLI exposes; each goes to generate() only for tasks that take it.
TASK_OPTIONS = {
    "corruption": "IOI corruption: abc (S2 -> a third name, default) or s2-io",
    "order": "IOI name order: mixed (default), abba or baba",
    "structure": "subject-verb agreement: all (default), simple, sentential, prepositional, "
    "relative, subject_relative or within_relative",
}
BUNDLED_TOKENIZERS = {
    "pythia": "pythia-gpt-neox-20b.tokenizer.json",
    "gpt2": "gpt2.tokenizer.json",
}


def register(subparsers) -> None:
    tasks = subparsers.add_parser("tasks", help="list, show and export prompt-pair tasks")
    sub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="every registered task with its kind and description")
    listing.set_defaults(run=_list)

    show = sub.add_parser("show", help="decoded clean/corrupted pairs and answers of a task")
    _add_task_args(show, default_n=5)
    show.set_defaults(run=_show)

    export = sub.add_parser("export", help="write a task's pairs as an EAP-IG CSV (or JSONL)")
    _add_task_args(export, default_n=None)
    export.add_argument(
        "--out", required=True, help="FILE.csv (EAP-IG format) or FILE.jsonl (token ids)"
    )
    export.add_argument(
        "--run-dir", default=None, help="run folder for the manifest (default runs/tasks-...)"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out and --run-dir"
    )
    export.set_defaults(run=_export)


def _add_task_args(parser: argparse.ArgumentParser, default_n: int | None) -> None:
    parser.add_argument("name", help="task name (see `mechcirc tasks list`) or an EAP-IG CSV")
    add_model_args(parser, required=False)
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer instead of a model: a tokenizer.json file, a folder, or a bundled "
        f"one ({', '.join(BUNDLED_TOKENIZERS)})",
    )
    parser.add_argument(
        "--n", type=positive_int, default=default_n, required=default_n is None, help="examples"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the example sampling")
    for option, text in TASK_OPTIONS.items():
        parser.add_argument(f"--{option}", default=None, help=text)


def _list(args: argparse.Namespace) -> int:
    from mechcirc import tasks

    found = [tasks.get(name) for name in tasks.names()]
    width = max(len(task.name) for task in found)
    for task in found:
        print(f"{task.name:<{width}}  {task.kind:<12}  {task.description}")
    return 0


def load_tokenizer(spec: str):
    """A tokenizer from a bundled name, a ``tokenizer.json`` file or a saved folder."""
    from pathlib import Path

    from mechcirc.models.tokenizers import saved_tokenizer, tokenizer_from_file

    if spec in BUNDLED_TOKENIZERS:
        return saved_tokenizer(BUNDLED_TOKENIZERS[spec])
    path = Path(spec).expanduser()
    if path.is_file() or path.is_dir():
        from transformers import AutoTokenizer

        try:
            if path.is_file():
                return tokenizer_from_file(path)
            return AutoTokenizer.from_pretrained(str(path))
        except Exception as err:  # tokenizers and transformers raise many types for bad files
            raise UsageError(
                f"--tokenizer {path} is not a readable tokenizer ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else 'no detail'}); give a "
                "tokenizer.json file, a folder saved by transformers, or a bundled name "
                f"({', '.join(BUNDLED_TOKENIZERS)})"
            ) from err
    raise UsageError(
        f"tokenizer {spec!r} is not a bundled name ({', '.join(BUNDLED_TOKENIZERS)}), "
        "a tokenizer.json file or a folder with one"
    )


def _tokenizer_and_model(args: argparse.Namespace):
    """(tokenizer, model summary or None) from ``--tokenizer`` or ``--model``."""
    if (args.model is None) == (args.tokenizer is None):
        raise UsageError("give exactly one of --model M or --tokenizer PATH")
    if args.tokenizer is not None:
        return load_tokenizer(args.tokenizer), None
    from mechcirc.cli.common import load_model_from_args
    from mechcirc.models.summary import model_summary

    model = load_model_from_args(args)
    return model.tokenizer, model_summary(model)


def _task_options(task, args: argparse.Namespace) -> dict:
    """The given ``--corruption/--order/--structure`` values, checked against the task."""
    given = {k: getattr(args, k) for k in TASK_OPTIONS if getattr(args, k) is not None}
    accepted = inspect.signature(task.generate).parameters
    unknown = [k for k in given if k not in accepted]
    if unknown:
        raise UsageError(f"task {task.name!r} has no option {', '.join('--' + k for k in unknown)}")
    return given


def _pairs(args: argparse.Namespace):
    from mechcirc import tasks

    task = tasks.prompt_pair_task(args.name)  # fails before any model is loaded
    options = _task_options(task, args)
    tokenizer, model = _tokenizer_and_model(args)
    pairs = tasks.load_pairs(args.name, tokenizer, n=args.n, seed=args.seed, **options)
    return pairs, tokenizer, model, options


def _answers(tokenizer, ids, shown: int = 6) -> str:
    tokens = [repr(tokenizer.decode([t])) for t in ids.tolist() if t >= 0]
    more = f" ... (+{len(tokens) - shown})" if len(tokens) > shown else ""
    return " ".join(tokens[:shown]) + more


def _show(args: argparse.Namespace) -> int:
    pairs, tokenizer, _, options = _pairs(args)
    lengths = pairs.attention_mask.sum(-1).tolist()
    print(f"{pairs.task}: {len(pairs)} pairs, metric {pairs.metric}, options {options or '{}'}")
    for i, length in enumerate(lengths):
        positions = ", ".join(f"{k}={int(v[i])}" for k, v in pairs.positions.items())
        print(f"\n[{i}] clean:     {tokenizer.decode(pairs.clean[i, :length])!r}")
        print(f"    corrupted: {tokenizer.decode(pairs.corrupted[i, :length])!r}")
        print(f"    correct:   {_answers(tokenizer, pairs.correct[i])}")
        print(f"    incorrect: {_answers(tokenizer, pairs.incorrect[i])}")
        print(f"    positions: {positions}  ({length} tokens)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mechcirc.runs import RunFolder, default_run_dir, prepare_out_dir
    from mechcirc.tasks.io import export_csv, write_jsonl

    out = Path(args.out)
    if out.suffix not in (".csv", ".jsonl"):
        raise UsageError(f"--out must end in .csv or .jsonl, got {out}")
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists: choose a new file, or pass --overwrite")
    source = args.model or args.tokenizer
    run_dir = args.run_dir or default_run_dir("tasks-export", Path(args.name).stem, source)
    prepare_out_dir(run_dir, overwrite=args.overwrite, flag="--run-dir")
    pairs, tokenizer, model, options = _pairs(args)
    config = {k: v for k, v in vars(args).items() if k not in ("run", "overwrite")}
    with RunFolder.create(
        run_dir,
        command="tasks export",
        config=config,
        seed=args.seed,
        model=model,
        overwrite=args.overwrite,
    ) as run:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            export_csv(pairs, tokenizer, out)
        else:
            write_jsonl(pairs, out)
        write_jsonl(pairs, run.file("examples.jsonl"))
        run.finish(metrics={"n_examples": len(pairs)}, exported_to=str(out.resolve()))
    print(f"wrote {len(pairs)} {pairs.task} pairs to {out} (run record: {run.path})")
    return 0
