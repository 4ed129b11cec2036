"""Peak memory of a whole ``mechcirc eap`` process as the number of prompt pairs grows.

Workload (issue 12): the offline tiny Pythia-architecture model (``mechcirc models
build-offline``), ``mechcirc eap --model pythia-160m --revision step143000 --method eap --n N``
with the default batch size (32), for N = 32, 512 and 5000, each a fresh process; peak RSS is
the child's own ``ru_maxrss`` (``os.wait4``). The tiny random model's clean and corrupted
baselines are within noise, so the smallest-circuit search is skipped; a second command per N
adds ``--greedy 40``, which evaluates one circuit over every batch, so the faithfulness
evaluator's memory shows too. Target: N = 5000 within 1.2x of N = 32.

Run: ``.venv/bin/python benchmarks/eap_memory.py [--home DIR] [--sizes 32,512,5000]``; prints
the figures and writes ``benchmarks/results/eap_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "eap_memory.json"
MECHCIRC = [str(Path(sys.executable).parent / "mechcirc")]
COMMAND = ["eap", "--model", "pythia-160m", "--revision", "step143000", "--method", "eap"]
VARIANTS = {"search skipped": [], "greedy 40": ["--greedy", "40"]}


def run_eap(mechcirc: list[str], home: str, n: int, extra: list[str], out: Path) -> dict:
    """Peak RSS (GiB) and the manifest's timings of one ``mechcirc eap`` process."""
    env = {**os.environ, "HF_HOME": home, "HF_HUB_OFFLINE": "1"}
    argv = [*mechcirc, *COMMAND, "--n", str(n), *extra, "--out", str(out), "--overwrite"]
    log = out.with_suffix(".log")
    with log.open("w") as output:
        child = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(argv)} failed: {log.read_text()[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"peak_rss_gib": round(usage.ru_maxrss / 2**20, 3), "timings": manifest["timings"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="an offline hub (built into a temporary folder if absent)")
    parser.add_argument("--sizes", default="32,512,5000")
    parser.add_argument(
        "--mechcirc",
        default=" ".join(MECHCIRC),
        help="the command to measure (an older checkout's)",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="eap-memory-"))
    try:
        home = args.home or str(scratch / "hub")
        if not args.home:
            from mechcirc.models.offline_hub import build_offline_hub

            build_offline_hub(home)
        results: dict = {"command": " ".join(["mechcirc", *COMMAND]), "runs": {}}
        for label in args.variants.split(","):
            runs = {}
            for n in sizes:
                runs[n] = run_eap(args.mechcirc.split(), home, n, VARIANTS[label], scratch / f"{n}")
                print(f"{label:<15} n={n:<6} peak {runs[n]['peak_rss_gib']:.3f} GiB", flush=True)
            base = runs[sizes[0]]["peak_rss_gib"]
            for n in sizes:
                runs[n]["ratio_to_smallest"] = round(runs[n]["peak_rss_gib"] / base, 3)
            results["runs"][label] = runs
        print(json.dumps(results, indent=2))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
