"""Collect the toy runs of reproduce_toys.sh into results/l3d: toys.json (every run),
toys_seeds.json and toys_seeds.md (mean, standard deviation and range over the seeds of each
multi-seed toy and divergence), the sweep figures (loss and dead subnetworks against the rank /
the number of subnetworks) and the figures of the seed-0 runs of the multi-seed folders (with
two divergences, those with the authors').

Run folders are read from ROOT/<name> (one run) and ROOT/<name>/<member> (the run folders of a
``mechcirc l3d --seeds/--divergence`` run, named ``seed0`` or ``mse-authors-seed0``).

    python results/l3d/collect_toys.py runs/l3d-toys
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

from mechcirc.analyses.l3d.plots import plot_scatter
from mechcirc.runs import read_manifest

HERE = Path(__file__).parent
KEYS = ("reconstruction_loss", "train_loss", "dead_subnetworks", "activation_frequency",
        "groups_with_own_subnetwork", "subnetwork_purity", "tms_min_best_cos", "A_r_pearson",
        "A_r2", "A_features_distinct", "paper_reconstruction_loss")  # fmt: skip
SUMMARISED = ("reconstruction_loss", "train_loss", "dead_subnetworks",
              "groups_with_own_subnetwork", "tms_min_best_cos", "A_r_pearson")  # fmt: skip
FIGURES = ("subnetworks.png", "interventions.png", "interventions_scatter.png",
           "interventions_more_deltas.png", "interventions_hidden_only.png",
           "interventions_two_subnetworks.png", "A_recovery.png")  # fmt: skip
FIGURE_MEMBERS = ("seed0", "mse-authors-seed0")  # whose figures are copied


def run_folders(root: Path) -> dict[str, Path]:
    """``name -> folder`` of every run under ``root``: ``name`` or ``name/member``."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / "manifest.json").is_file():
            found[folder.name] = folder
        for member in sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file()):
            found[f"{folder.name}/{member.name}"] = member
    return found


def collect(root: Path) -> dict[str, dict]:
    """The finished runs' commands, configs, inputs, metrics and timings; seed-0 figures copied."""
    runs = {}
    for name, folder in run_folders(root).items():
        manifest = read_manifest(folder)
        if manifest.get("status") != "done":
            continue
        runs[name] = {
            "command": " ".join(["mechcirc", *manifest["argv"][1:]]),
            "config": manifest["config"],
            "inputs": manifest["inputs"],
            "metrics": {k: manifest["metrics"][k] for k in KEYS if k in manifest["metrics"]},
            "seconds": manifest["timings"],
        }
        if "/" in name and name.split("/")[1] in FIGURE_MEMBERS:
            for figure in FIGURES:
                if (folder / figure).is_file():
                    shutil.copy(folder / figure, HERE / f"{name.replace('/', '-')}_{figure}")
    return runs


def seed_summary(runs: dict[str, dict]) -> dict[str, dict]:
    """Per multi-seed folder and divergence (``tms-paper/mse``): each metric's mean, sample
    standard deviation, min and max over the seeds, the seeds and the one command."""
    groups: dict[str, list[dict]] = {}
    for name, run in runs.items():
        if "/" in name:
            folder = name.split("/")[0]
            groups.setdefault(f"{folder}/{run['inputs']['toy']['divergence']}", []).append(run)
    summary = {}
    for key, members in sorted(groups.items()):
        stats = {}
        for metric in SUMMARISED:
            values = [m["metrics"][metric] for m in members if metric in m["metrics"]]
            if values:
                stats[metric] = {
                    "mean": statistics.fmean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values),
                    "max": max(values),
                    "values": values,
                }
        summary[key] = {
            "seeds": [m["config"]["seed"] for m in members],
            "paper_reconstruction_loss": members[0]["metrics"].get("paper_reconstruction_loss"),
            "command": members[0]["command"],
            "metrics": stats,
        }
    return summary


def _percent(stats: dict) -> str:
    values = " / ".join(f"{100 * v:.1f}" for v in stats["values"])
    return f"{100 * stats['mean']:.1f} ± {100 * stats['sd']:.1f}% ({values})"


def seed_table(summary: dict[str, dict]) -> str:
    """A markdown table of :func:`seed_summary` (losses in percent: mean ± sd (each seed))."""
    rows = ["| toy / divergence | paper | held-out loss | training loss | dead | own subnetworks |"
            " A Pearson r | TMS min best \\|cos\\| |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key, group in summary.items():
        stats = group["metrics"]
        paper = group["paper_reconstruction_loss"]
        cells = [
            f"{key} (seeds {', '.join(map(str, group['seeds']))})",
            f"{100 * paper:.1f}%" if paper is not None else "-",
            _percent(stats["reconstruction_loss"]),
            _percent(stats["train_loss"]) if "train_loss" in stats else "-",
        ]
        for metric, digits in (("dead_subnetworks", 0), ("groups_with_own_subnetwork", 0),
                               ("A_r_pearson", 3), ("tms_min_best_cos", 3)):  # fmt: skip
            values = stats.get(metric, {}).get("values")
            cells.append(" / ".join(f"{v:.{digits}f}" for v in values) if values else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot_sweeps(runs: dict[str, dict]) -> None:
    """Loss (and dead subnetworks in the title) against the rank / n_v of the seed-0 sweeps."""
    for prefix, key, label in (("high-rank-paper-rank", "rank", "rank"),
                               ("squares-paper-nv", "n_subnetworks", "n_v")):  # fmt: skip
        sweep = sorted((r["config"][key], r["metrics"]) for n, r in runs.items()
                       if n.startswith(prefix) and r["config"]["seed"] == 0
                       and r["inputs"]["toy"]["divergence"] == "mse")  # fmt: skip
        if len(sweep) > 1:
            xs = [x for x, _ in sweep]
            plot_scatter(xs, [m["reconstruction_loss"] for _, m in sweep],
                         HERE / f"{prefix.rstrip('-')}_loss", xlabel=label,
                         ylabel="held-out loss", title=f"loss vs {label} (dead: "
                         + ", ".join(str(m["dead_subnetworks"]) for _, m in sweep)
                         + ")")  # fmt: skip


def main(root: Path) -> None:
    runs = collect(root)
    (HERE / "toys.json").write_text(json.dumps(runs, indent=1) + "\n")
    summary = seed_summary(runs)
    (HERE / "toys_seeds.json").write_text(json.dumps(summary, indent=1) + "\n")
    table = seed_table(summary)
    (HERE / "toys_seeds.md").write_text(table)
    plot_sweeps(runs)
    print(table)
    print(f"{len(runs)} runs -> {HERE / 'toys.json'}, {len(summary)} seed groups -> toys_seeds.*")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/l3d-toys"))
