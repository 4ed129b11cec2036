"""Loading memory and revision switching on a Pythia-160m-shaped checkpoint (issue 13).

Workload: a randomly initialised GPT-NeoX of Pythia-160m's shape (12 layers, 12 heads, d_model
768, d_mlp 3072, vocab 50304; 162M parameters, 0.65 GB of float32 weights) written into a hub
cache by ``mechcirc.build_offline_hub`` at 8 revisions (``--home``; built on first use), loaded
offline, one thread.

1. Peak memory of a fresh process per loader (one subprocess each; the figure is the process's
   high-water mark, ``VmHWM``, minus its resident size after the imports, so it counts what
   loading adds): ``mechcirc.load_model`` with the default (hooked) processing and with
   ``processing="none"``, plain ``transformers`` ``from_pretrained``, and TransformerLens's own
   processing (``enable_compatibility_mode()``, what ``load_model`` did before). Each loads, then
   runs one forward pass of 16 tokens (so every weight is resident for every loader). The
   ratio is that increment over the checkpoint's bytes; target <= 1.3x for ``load_model``.
   With ``--device cuda`` on a GPU machine each child also records
   ``torch.cuda.max_memory_allocated``.
2. The whole ``mechcirc eap`` process on the EAP benchmark workload (``--n 32`` IOI pairs, about
   16 tokens, ``eap-ig-inputs``, m = 5, batch 32): peak RSS of the process (``wait4``); target
   <= 2.5 GiB.
3. ``switch_revision`` through the 8 revisions, each timed against its floor measured beside it:
   reading the revision's safetensors file into memory (one ``readinto`` of its bytes) plus the
   weight processing alone (``process_weights_in_place`` on the loaded model); target <= 1.5x.
   Each file is read once just before, so both read it from the page cache. Resident memory
   after each switch shows whether it grows; one fresh ``load_model`` is timed for comparison.

Prints the figures and writes ``benchmarks/results/loading.json``.

    .venv/bin/python benchmarks/loading.py            # --quick: 2 layers, 3 revisions
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "loading.json"
MODEL = "pythia-160m"
REVISIONS = tuple(f"step{1000 * k}" for k in range(1, 9))
LOADERS = ("mechcirc-hooked", "mechcirc-none", "transformers", "transformer-lens-processing")
EAP_ARGS = ("--task", "ioi", "--n", "32", "--method", "eap-ig-inputs", "--ig-steps", "5")
GIB = 2**30


def shape(quick: bool):
    from mechcirc.models.offline_hub import TinyPythiaShape

    if quick:
        return TinyPythiaShape(n_layers=2, n_heads=12, d_model=768, d_mlp=3072, n_ctx=2048)
    return TinyPythiaShape(n_layers=12, n_heads=12, d_model=768, d_mlp=3072, n_ctx=2048)


def resident_gib() -> dict[str, float]:
    """Current and peak resident size of this process (Linux ``/proc``)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) * 1024 / GIB for key in ("VmRSS", "VmHWM")}


# ---- children: each runs in a fresh process ---------------------------------------------------
def child_build(home: str, quick: bool) -> dict:
    from mechcirc.models.offline_hub import build_offline_hub
    from mechcirc.models.source import ModelSource, snapshot_folder
    from mechcirc.models.weights import read_header, safetensors_files

    revisions = REVISIONS[:3] if quick else REVISIONS
    build_offline_hub(home, MODEL, revisions=revisions, shape=shape(quick))
    folder = _folder(revisions[0], snapshot_folder, ModelSource)
    entries = [e for path in safetensors_files(folder) for e in read_header(path).values()]
    return {
        "revisions": list(revisions),
        "checkpoint_gib": sum(e.end - e.start for e in entries) / GIB,
    }


def child_load(loader: str, device: str) -> dict:
    import torch

    import mechcirc  # noqa: F401 - the imports are part of the baseline, not of the load
    from mechcirc.models.loading import load_model

    torch.set_num_threads(1)
    baseline = resident_gib()["VmRSS"]
    started = time.perf_counter()
    model = _load(loader, device, load_model)
    seconds = time.perf_counter() - started
    after_load = resident_gib()["VmHWM"]
    with torch.no_grad():
        model(torch.arange(1000, 1016, device=device)[None])
    result = {
        "baseline_gib": baseline,
        "peak_after_load_gib": after_load,
        "peak_gib": resident_gib()["VmHWM"],
        "load_s": seconds,
    }
    if device.startswith("cuda"):
        result["cuda_max_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
    return result


def _load(loader: str, device: str, load_model):
    from transformers import AutoModelForCausalLM

    revision = REVISIONS[0]
    if loader == "transformers":
        return AutoModelForCausalLM.from_pretrained(f"EleutherAI/{MODEL}", revision=revision).to(
            device
        )
    if loader == "transformer-lens-processing":  # load_model's path before this change
        from transformer_lens.model_bridge import TransformerBridge

        hf_model = AutoModelForCausalLM.from_pretrained(f"EleutherAI/{MODEL}", revision=revision)
        bridge = TransformerBridge.boot_transformers(f"EleutherAI/{MODEL}", hf_model=hf_model)
        bridge.enable_compatibility_mode(disable_warnings=True)
        return bridge.to(device)
    processing = "none" if loader == "mechcirc-none" else "hooked"
    return load_model(MODEL, revision, device=device, processing=processing)


def child_switch(device: str, repeats: int) -> dict:
    import torch

    from mechcirc.models.loading import load_model, switch_revision
    from mechcirc.models.processing import process_weights_in_place
    from mechcirc.models.source import ModelSource, snapshot_folder
    from mechcirc.models.weights import safetensors_files

    torch.set_num_threads(1)
    files = {rev: safetensors_files(_folder(rev, snapshot_folder, ModelSource)) for rev in _revs()}
    buffer = bytearray(max(sum(p.stat().st_size for p in paths) for paths in files.values()))
    started = time.perf_counter()
    model = load_model(MODEL, _revs()[0], device=device)
    fresh_load_s = time.perf_counter() - started
    rows = []
    for round_ in range(repeats):
        for revision in _revs()[1:] + _revs()[:1]:
            _read_bytes(files[revision], buffer)  # warm: the floor and the switch both read the
            # file from the page cache, the floor into memory already mapped
            read_s = _timed(lambda paths=files[revision]: _read_bytes(paths, buffer))
            process_s = _timed(lambda: process_weights_in_place(model), device)
            switch_s = _timed(lambda rev=revision: switch_revision(model, rev), device)
            rows.append(
                {
                    "round": round_ + 1,
                    "revision": revision,
                    "switch_s": switch_s,
                    "read_s": read_s,
                    "process_s": process_s,
                    "ratio": switch_s / (read_s + process_s),
                    "rss_gib": resident_gib()["VmRSS"],
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {"fresh_load_model_s": fresh_load_s, "switches": rows}
    if device.startswith("cuda"):
        result["cuda_max_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
    return result


def _revs() -> list[str]:
    return json.loads(os.environ["MECHCIRC_BENCH_REVISIONS"])


def _folder(revision: str, snapshot_folder, model_source) -> Path:
    return snapshot_folder(model_source("hub", f"EleutherAI/{MODEL}", revision))


def _read_bytes(paths: list[Path], buffer: bytearray) -> None:
    """Read the files one after another into ``buffer`` (the floor of reading a checkpoint)."""
    view, done = memoryview(buffer), 0
    for path in paths:
        end = done + path.stat().st_size
        with open(path, "rb", buffering=0) as handle:
            while done < end:
                done += handle.readinto(view[done:end])


def _timed(action, device: str = "cpu") -> float:
    import torch

    started = time.perf_counter()
    action()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


# ---- parent: starts the children, runs the eap command, prints and writes ----------------------
def run_child(args: list[str], env: dict) -> dict:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def eap_process(env: dict, out: Path) -> dict:
    """Peak RSS and wall time of a whole ``mechcirc eap`` process (its own ``wait4`` figures)."""
    mechcirc = Path(sys.executable).with_name("mechcirc")
    command = [str(mechcirc), "eap", "--model", MODEL, "--revision", REVISIONS[0], *EAP_ARGS]
    command += ["--out", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mechcirc eap failed: {process.stderr.read().decode()[-2000:]}")
    return {"command": " ".join(command[1:]), "peak_rss_gib": usage.ru_maxrss / 2**20, "s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", default=os.path.join(tempfile.gettempdir(), "mechcirc-bench-160m")
    )
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--repeats", type=int, default=3, help="rounds through the revisions")
    parser.add_argument("--quick", action="store_true", help="2 layers, 3 revisions (smoke run)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            result = child_build(args.home, args.quick)
        elif kind == "load":
            result = child_load(rest[0], args.device)
        else:
            result = child_switch(args.device, args.repeats)
        print(json.dumps(result))
        return
    home = args.home + ("-quick" if args.quick else "")
    base = {**os.environ, "HF_HOME": home, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    quick = ["--quick"] if args.quick else []
    built = run_child(["--child", "build", "--home", home, *quick], base)
    env = {**base, "MECHCIRC_BENCH_REVISIONS": json.dumps(built["revisions"])}
    device = ["--device", args.device]
    loads = {name: run_child(["--child", "load", name, *device], env) for name in LOADERS}
    with tempfile.TemporaryDirectory() as folder:
        eap = eap_process(env, Path(folder) / "eap")
    switch = run_child(["--child", "switch", *device, "--repeats", str(args.repeats)], env)
    results = summarise(built["checkpoint_gib"], loads, eap, switch, args)
    print(json.dumps(results, indent=2))
    if not args.quick:  # a smoke run never replaces the recorded figures
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def summarise(checkpoint: float, loads: dict, eap: dict, switch: dict, args) -> dict:
    for figures in loads.values():
        figures["added_gib"] = figures["peak_gib"] - figures["baseline_gib"]
        figures["added_over_checkpoint"] = figures["added_gib"] / checkpoint
    ratios = [row["ratio"] for row in switch["switches"]]
    rss = [row["rss_gib"] for row in switch["switches"]]
    return {
        "workload": {
            "model": f"random GPT-NeoX, Pythia-160m shape{' (2 layers)' if args.quick else ''}",
            "checkpoint_gib": checkpoint,
            "device": args.device,
            "threads": 1,
        },
        "load": loads,
        "eap_process": eap,
        "switch": {
            **switch,
            "ratio_median": statistics.median(ratios),
            "ratio_range": [min(ratios), max(ratios)],
            "switch_s_median": statistics.median(r["switch_s"] for r in switch["switches"]),
            "rss_first_last_gib": [rss[0], rss[-1]],
        },
        "cuda": "measured" if args.device.startswith("cuda") else "unmeasured (no GPU here)",
    }


if __name__ == "__main__":
    main()
