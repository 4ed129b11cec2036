"""Collect the toy runs of reproduce_toys.sh into results/l3d: toys.json, the sweep figures
(loss and dead subnetworks against the rank / the number of subnetworks) and the figures of
the seed-0 runs.

    python results/l3d/collect_toys.py runs/l3d-toys
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mechcirc.analyses.l3d.plots import plot_scatter
from mechcirc.runs import read_manifest

HERE = Path(__file__).parent
KEYS = ("reconstruction_loss", "train_loss", "dead_subnetworks", "activation_frequency",
        "groups_with_own_subnetwork", "subnetwork_purity", "tms_min_best_cos", "A_r_pearson",
        "A_r2", "A_features_distinct", "paper_reconstruction_loss")  # fmt: skip
FIGURES = ("subnetworks.png", "interventions.png", "interventions_scatter.png",
           "interventions_more_deltas.png", "interventions_hidden_only.png",
           "interventions_two_subnetworks.png", "A_recovery.png")  # fmt: skip


def main(root: Path) -> None:
    runs = {}
    for folder in sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()):
        manifest = read_manifest(folder)
        if manifest.get("status") != "done":
            continue
        runs[folder.name] = {
            "command": " ".join(["mechcirc", *manifest["argv"][1:]]),
            "config": manifest["config"],
            "inputs": manifest["inputs"],
            "metrics": {k: manifest["metrics"][k] for k in KEYS if k in manifest["metrics"]},
            "seconds": manifest["timings"],
        }
        if folder.name.endswith("seed0"):
            for figure in FIGURES:
                if (folder / figure).is_file():
                    shutil.copy(folder / figure, HERE / f"{folder.name}_{figure}")
    (HERE / "toys.json").write_text(json.dumps(runs, indent=1) + "\n")
    for prefix, key, label in (("high-rank-paper-rank", "rank", "rank"),
                               ("squares-paper-nv", "n_subnetworks", "n_v")):  # fmt: skip
        sweep = sorted((r["config"][key], r["metrics"]) for n, r in runs.items()
                       if n.startswith(prefix) and n.endswith("seed0"))  # fmt: skip
        if sweep:
            xs = [x for x, _ in sweep]
            plot_scatter(xs, [m["reconstruction_loss"] for _, m in sweep],
                         HERE / f"{prefix.rstrip('-')}_loss", xlabel=label,
                         ylabel="held-out loss", title=f"loss vs {label} (dead: "
                         + ", ".join(str(m["dead_subnetworks"]) for _, m in sweep)
                         + ")")  # fmt: skip
    print(f"{len(runs)} runs -> {HERE / 'toys.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/l3d-toys"))
