"""The built-in micro-Pythia: its behaviour and circuits at step 0 and at the end of training.

    python examples/micro_pythia.py                        # first and last checkpoint, < 1 min
    python examples/micro_pythia.py --revisions all --csv results/micro-pythia/over_training.csv

Builds the offline hub (micro-Pythia only) in a temporary folder, then, per checkpoint, prints
the four tasks' behaviour on prompts from seed 0 (the corpus used other seeds), the strongest
induction and previous-token heads, the heads with the largest direct effect on the IOI logit
difference (path patching to the logits) and the smallest EAP-IG circuit reaching normalized
faithfulness 0.8. With a hub connection the same calls take
``load_model("pythia-160m", revision="step143000")``.
"""

from __future__ import annotations

import argparse
import os
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", default=None, help="comma-separated, or all")
    parser.add_argument("--n", type=int, default=32, help="prompt pairs per task")
    parser.add_argument("--csv", default=None, help="write one row per checkpoint here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mechcirc-hub-") as home:
        # must happen before transformers / huggingface_hub are imported
        os.environ.update(HF_HOME=home, HF_HUB_OFFLINE="1")
        import torch

        from mechcirc.models.micro_spec import load_spec
        from mechcirc.models.offline_hub import write_micro_pythia

        torch.set_num_threads(1)
        revisions = load_spec().revisions()
        if args.revisions == "all":
            chosen = list(revisions)
        else:
            chosen = args.revisions.split(",") if args.revisions else [revisions[0], revisions[-1]]
        rows = []
        for revision in chosen:
            write_micro_pythia(home, [revision])
            rows.append(checkpoint_figures(revision, args.n))
    if args.csv:
        import pandas as pd

        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False, float_format="%.4g")
        print(f"wrote {args.csv}")


def checkpoint_figures(revision: str, n: int) -> dict:
    """Measure one checkpoint with mechcirc's analyses; print and return the figures."""
    import mechcirc
    from mechcirc import tasks
    from mechcirc.analyses.heads import RepeatedTokens, attention_scores
    from mechcirc.analyses.micro_pythia.measure import behaviours

    model = mechcirc.load_model("micro-pythia", revision=revision, device="cpu")
    row: dict = {"revision": revision}
    print(f"== micro-pythia@{revision}")
    for name, found in behaviours(model, n=n, seed=0).items():
        print(f"{name}: {found.metric} {found.mean:.3f} accuracy {found.accuracy:.3f}")
        row[f"{name}_{found.metric}"], row[f"{name}_accuracy"] = found.mean, found.accuracy
    pattern = attention_scores(model, RepeatedTokens(half_len=20, n_sequences=16, seed=0))
    for score in ("induction", "previous_token", "duplicate_token"):
        layer, head, value = pattern[score].top(1)[0]
        print(f"{score} head: a{layer}.h{head} {value:.3f}")
        row[f"{score}_head"], row[f"{score}_max"] = f"a{layer}.h{head}", value
    pairs = tasks.load_pairs("ioi", model.tokenizer, n=n, seed=0)
    row.update(ioi_circuit(model, pairs))
    return row


def ioi_circuit(model, pairs) -> dict:
    """Direct effects on the IOI logit difference and the smallest EAP-IG circuit."""
    from mechcirc.analyses.eap import FaithfulnessEvaluator, attribute, smallest_circuit
    from mechcirc.analyses.path_patching import PathPatchConfig, path_patch

    direct = path_patch(model, pairs.select(slice(0, 16)), PathPatchConfig())
    gap = direct.clean_metric - direct.corrupted_metric
    frame = direct.to_frame().sort_values("effect").head(2)
    found = ", ".join(f"{r.sender} {r.effect / -gap:.2f}" for r in frame.itertuples())
    print(f"ioi clean - corrupted {gap:.3f}; direct effect (fraction of it): {found}")
    row = {"ioi_gap": gap, "direct_effect_heads": found}
    evaluator = FaithfulnessEvaluator(model, pairs)
    graph = attribute(model, pairs, "eap-ig-inputs", ig_steps=5, progress=False).graph
    search = smallest_circuit(evaluator, graph, target=0.8)
    edges, total = search.circuit.n_edges_in_graph, graph.layout.n_edges
    heads = sorted(
        node
        for node, inside in search.circuit.node_in_graph.items()
        if inside and node.startswith("a")
    )
    print(
        f"ioi eap-ig circuit: {edges} of {total} edges ({edges / total:.1%}), normalized "
        f"faithfulness {search.faithfulness.normalized:.3f}, heads {' '.join(heads)}"
    )
    return {
        **row,
        "eap_edges": edges,
        "eap_edge_fraction": edges / total,
        "eap_faithfulness": search.faithfulness.normalized,
        "eap_heads": " ".join(heads),
    }


if __name__ == "__main__":
    main()
