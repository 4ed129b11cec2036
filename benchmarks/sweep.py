"""A sweep over 8 revisions vs 8 separate ``mechcirc eap`` processes: time and peak memory.

Workload: a randomly initialised Pythia-160m-shaped GPT-NeoX (12 layers, 12 heads, d_model 768,
vocab 50304; 0.65 GB of float32 weights per revision) at 8 revisions in an offline hub cache
built here; IOI, ``--n 8 --ig-steps 2 --batch-size 8``, the paper's fraction-of-clean criterion,
one CPU thread.

- ``sweep``: one ``mechcirc sweep --analyses eap`` process over the 8 revisions;
- ``separate``: 8 ``mechcirc eap`` processes, one per revision (the same work per revision);
- ``sweep-1``: the same sweep over the first revision only, so that ``sweep`` vs ``sweep-1`` peak
  memory says whether memory grows with the number of units; each unit's manifest also records
  the process's peak RSS after it (``resources.process_max_rss_mib``), printed per unit.

Every figure is of whole processes (start-up, imports and loading included): wall seconds by a
monotonic clock, peak RSS from the kernel's accounting of the finished child (``os.wait4``).
The configurations alternate over ``--repeats`` rounds; ratios are medians of per-round ratios.
Prints the figures and writes ``benchmarks/results/sweep.json``.

Run: ``nice -n 19 .venv/bin/python benchmarks/sweep.py`` (``--quick``: 2-layer model, 3 revisions).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "sweep.json"
MECHCIRC = str(Path(sys.executable).with_name("mechcirc"))
REVISIONS = ("step0", "step1000", "step2000", "step4000", "step8000", "step16000", "step32000")
REVISIONS += ("step143000",)
SETTINGS = ["--n", "8", "--ig-steps", "2", "--batch-size", "8", "--task", "ioi"]


def build_hub(home: Path, n_layers: int, revisions: tuple[str, ...]) -> None:
    from mechcirc.models.offline_hub import TinyPythiaShape, build_offline_hub

    shape = TinyPythiaShape(n_layers=n_layers, n_heads=12, d_model=768, d_mlp=3072, n_ctx=2048)
    build_offline_hub(home, "pythia-160m", revisions, shape=shape)


def measure(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    started = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed: {process.stderr.read().decode()[-2000:]}")
    return {"wall_s": wall, "peak_mib": usage.ru_maxrss / 1024}


def sweep_argv(out: Path, revisions: tuple[str, ...]) -> list[str]:
    flags = [f if f != "--task" else "--tasks" for f in SETTINGS]
    return [MECHCIRC, "sweep", "--models", "pythia-160m", "--revisions", ",".join(revisions),
            "--analyses", "eap", *flags, "--threads", "1", "--out", str(out)]  # fmt: skip


def run_separate(scratch: Path, revisions: tuple[str, ...], env) -> dict[str, float]:
    totals = {"wall_s": 0.0, "peak_mib": 0.0}
    for revision in revisions:
        out = scratch / f"eap-{revision}"
        argv = [MECHCIRC, "eap", "--model", "pythia-160m", "--revision", revision, *SETTINGS]
        found = measure([*argv, "--criterion", "fraction-of-clean", "--out", str(out)], env)
        totals["wall_s"] += found["wall_s"]
        totals["peak_mib"] = max(totals["peak_mib"], found["peak_mib"])
        shutil.rmtree(out)
    return totals


def unit_peaks(sweep_dir: Path, revisions: tuple[str, ...]) -> list[float]:
    units = sweep_dir / "units" / "pythia-160m"
    return [
        json.loads((units / r / "manifest.json").read_text())["resources"]["process_max_rss_mib"]
        for r in revisions
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, 3 revisions")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    revisions = REVISIONS[:3] if args.quick else REVISIONS
    scratch = Path(tempfile.mkdtemp(prefix="mechcirc-bench-sweep-"))
    try:
        home = scratch / "hub"
        build_hub(home, 2 if args.quick else 12, revisions)
        env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        rounds, peaks = [], []
        for _ in range(args.repeats):
            round_ = {"separate": run_separate(scratch, revisions, env)}
            for name, chosen in (("sweep", revisions), ("sweep-1", revisions[:1])):
                out = scratch / name
                round_[name] = measure(sweep_argv(out, chosen), env)
                if name == "sweep":
                    peaks.append(unit_peaks(out, revisions))
                shutil.rmtree(out)
            rounds.append(round_)
            print(json.dumps(round_))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(rounds, peaks, revisions, args.quick)


def report(rounds: list[dict], peaks: list[list[float]], revisions, quick: bool) -> None:
    def median(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in rounds)

    def ratio(a: str, b: str, key: str) -> float:
        return statistics.median(r[a][key] / r[b][key] for r in rounds)

    results = {
        "workload": f"pythia-160m shape ({'2' if quick else '12'} layers), {len(revisions)} "
        "revisions, IOI n=8, ig_steps=2, fraction-of-clean, 1 thread",
        "rounds": rounds,
        "median": {n: {k: median(n, k) for k in ("wall_s", "peak_mib")} for n in rounds[0]},
        "sweep_vs_separate_wall": ratio("sweep", "separate", "wall_s"),
        "sweep_vs_separate_peak": ratio("sweep", "separate", "peak_mib"),
        "sweep_8_vs_1_unit_peak": ratio("sweep", "sweep-1", "peak_mib"),
        "unit_peaks_mib": peaks,
    }
    print(f"workload: {results['workload']}")
    for name, found in results["median"].items():
        print(f"  {name:<9} wall {found['wall_s']:7.1f} s   peak RSS {found['peak_mib']:7.0f} MiB")
    print(f"sweep / separate processes: wall {results['sweep_vs_separate_wall']:.2f}x, "
          f"peak {results['sweep_vs_separate_peak']:.2f}x")  # fmt: skip
    print(f"sweep peak over {len(revisions)} units / over 1 unit: "
          f"{results['sweep_8_vs_1_unit_peak']:.2f}x")  # fmt: skip
    print(f"process peak after each unit (MiB): {peaks[-1]}")
    if not quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
