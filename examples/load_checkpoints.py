"""Load one model at several training checkpoints and compare what it predicts.

The model is loaded once; each further checkpoint is swapped into it with
``mechcirc.models.loading.switch_revision`` (no new bridge, weights processed in place). The
last line checks the swapped model against a fresh ``load_model`` of the same checkpoint.

With the hub reachable, point it at real Pythia checkpoints:

    python examples/load_checkpoints.py --model pythia-160m --revisions step1000,step143000

Offline (the default here) it first builds the built-in tiny Pythia-architecture model into a
hub cache, so the same code path runs without any download:

    python examples/load_checkpoints.py --offline
"""

from __future__ import annotations

import argparse
import os
import tempfile

PROMPT = "When Mary and John went to the store, John gave a drink to"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pythia-160m")
    parser.add_argument("--revisions", default="step0,step1000,step143000")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="build the tiny offline hub cache first and load from it",
    )
    args = parser.parse_args()

    if not args.offline:
        show_checkpoints(args.model, args.revisions.split(","))
        return
    with tempfile.TemporaryDirectory(prefix="mechcirc-hub-") as home:
        # must happen before transformers / huggingface_hub are imported
        os.environ.update(HF_HOME=home, HF_HUB_OFFLINE="1")
        import mechcirc

        mechcirc.build_offline_hub(home, micro=False)
        show_checkpoints(args.model, args.revisions.split(","))


def show_checkpoints(model_name: str, revisions: list[str]) -> None:
    import torch

    import mechcirc
    from mechcirc.models.loading import switch_revision
    from mechcirc.models.summary import model_summary

    torch.set_num_threads(1)
    model = mechcirc.load_model(model_name, revision=revisions[0], device="cpu")
    ids = model.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    for revision in revisions:
        model = switch_revision(model, revision)  # (the first: the weights it already has)
        summary = model_summary(model)
        with torch.no_grad():
            logits = model(ids)[0, -1]
        top = [model.tokenizer.decode(int(t)) for t in logits.topk(3).indices]
        print(
            f"{revision:>12}  commit {summary['commit'][:8]}  "
            f"{summary['n_layers']} layers x {summary['n_heads']} heads  "
            f"d_model {summary['d_model']}  next-token top-3 {top}"
        )
    fresh = mechcirc.load_model(model_name, revision=revisions[-1], device="cpu")
    with torch.no_grad():
        gap = (model(ids) - fresh(ids)).abs().max().item()
    print(f"switched vs freshly loaded {revisions[-1]}: max |logit difference| {gap:.2e}")


if __name__ == "__main__":
    main()
