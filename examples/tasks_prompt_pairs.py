"""Generate the four language tasks' prompt pairs, score a model on them, export them as CSV.

For each task (IOI, gendered pronoun, greater-than, subject-verb agreement) this makes pairs
with the model's own tokenizer, shows one decoded pair, runs the model on the clean and the
corrupted prompts and prints the mean task metric of each (a trained model scores clearly
higher on clean prompts), then writes the pairs as an EAP-IG CSV and loads it back.

    python examples/tasks_prompt_pairs.py --quick                  # tiny random model, CPU
    python examples/tasks_prompt_pairs.py --model pythia-160m --n 128   # real checkpoint (hub)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

TASKS = ("ioi", "gendered-pronoun", "greater-than", "subject-verb-agreement")


def mean_metric(model, pairs, prompts: str, batch_size: int = 32) -> float:
    """Mean task metric of ``model`` on the pairs' ``prompts`` ("clean" or "corrupted")."""
    import torch

    values = []
    with torch.no_grad():
        for batch in pairs.batches(batch_size):
            logits = model(getattr(batch, prompts))  # right padding + causal: no mask needed
            values.append(batch.evaluate(logits))
    return float(torch.cat(values).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name (default: tiny random GPT-NeoX)")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--n", type=int, default=64, help="pairs per task")
    parser.add_argument("--quick", action="store_true", help="8 pairs per task, tiny model")
    parser.add_argument("--out", default=None, help="folder for the CSVs (default: a temp dir)")
    args = parser.parse_args(argv)

    import torch

    import mechcirc
    from mechcirc import tasks
    from mechcirc.models.tiny import tiny_model

    torch.set_num_threads(1)
    n = 8 if args.quick else args.n
    if args.model and not args.quick:
        model = mechcirc.load_model(args.model, revision=args.revision, device="cpu")
    else:
        model = tiny_model("gpt-neox")
    tokenizer = model.tokenizer
    out = Path(args.out or tempfile.mkdtemp(prefix="mechcirc-tasks-"))
    out.mkdir(parents=True, exist_ok=True)

    for name in TASKS:
        pairs = tasks.load_pairs(name, tokenizer, n=n, seed=0)
        length = int(pairs.attention_mask[0].sum())
        print(f"\n{name} ({pairs.metric}): {tokenizer.decode(pairs.clean[0, :length])!r}")
        print(f"  corrupted: {tokenizer.decode(pairs.corrupted[0, :length])!r}")
        clean = mean_metric(model, pairs, "clean")
        corrupted = mean_metric(model, pairs, "corrupted")
        print(f"  mean {pairs.metric}: clean {clean:+.4f}  corrupted {corrupted:+.4f}")

        path = tasks.export_csv(pairs, tokenizer, out / f"{name}.csv")
        again = tasks.load_pairs(path, tokenizer, n=n)  # a CSV path works wherever a name does
        same = torch.equal(again.clean, pairs.clean) and torch.equal(again.correct, pairs.correct)
        print(f"  exported {path} (reloads to identical ids: {same})")


if __name__ == "__main__":
    main()
