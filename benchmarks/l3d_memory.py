"""Memory of L3D's subnetworks: dense maps against Tucker factors, on one SmolLM2 attention block.

The block of SmolLM2-135M (Llama, grouped-query attention): q 576x576, k 192x576, v 192x576,
o 576x576 (884,736 parameters), 100 subnetworks, per-token gradients of 64 samples (4 texts of
16 tokens; random values: memory does not depend on them). Each configuration runs in its own
process (so peaks do not mix): build the subnetworks, make the gradients, then 2 training steps.

- ``dense``: ``subnetwork_chunk=0`` builds the ``[100, 884,736]`` maps every step;
- ``factored``: ``subnetwork_chunk=10`` works from the factors 10 subnetworks at a time.

Reported: the numbers stored (both maps' factors) against the dense maps, the peak resident
memory of the process above its level before the first step, the saved ``subnetworks``
file, and CPU seconds per step. Writes ``benchmarks/results/l3d_memory.json``.

Run: ``.venv/bin/python benchmarks/l3d_memory.py`` (``--quick``: a 2-subnetwork smoke run).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {"q": (576, 576), "k": (192, 576), "v": (192, 576), "o": (576, 576)}
RESULTS = Path(__file__).parent / "results" / "l3d_memory.json"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(n_subnetworks: int, rank_fraction: float | None, rank: int, chunk: int) -> dict:
    """One configuration in this process: peak memory of two training steps."""
    import torch

    from mechcirc.analyses.l3d import L3DConfig, Subnetworks
    from mechcirc.analyses.l3d.checkpoint import save_subnetworks
    from mechcirc.analyses.l3d.training import fit

    torch.set_num_threads(1)
    config = L3DConfig(
        n_subnetworks=n_subnetworks, rank=rank, rank_fraction=rank_fraction, steps=2,
        batch_size=4, subnetwork_chunk=chunk, log_every=1,
    )  # fmt: skip
    subnetworks = Subnetworks(SHAPES, n_subnetworks, ranks=config.mode_rank, seed=0)
    n_params = subnetworks.n_params
    gradients = torch.randn(64, n_params, generator=torch.Generator().manual_seed(0))
    before = _rss_mib()
    started = time.process_time()
    fit(lambda step: gradients, subnetworks, config, progress=False)
    cpu_per_step = (time.process_time() - started) / 2
    with tempfile.TemporaryDirectory() as folder:
        saved = save_subnetworks(Path(folder) / "s.safetensors", subnetworks).stat().st_size
    return {
        "n_subnetworks": n_subnetworks,
        "ranks": subnetworks.ranks,
        "chunk": chunk,
        "n_params": n_params,
        "stored_values": subnetworks.n_factor_values(),
        "dense_values": 2 * n_subnetworks * n_params,
        "saved_file_mib": round(saved / 2**20, 2),
        "peak_above_start_mib": round(_rss_mib() - before, 1),
        "cpu_s_per_step": round(cpu_per_step, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        n, fraction, rank, chunk = args.worker
        fraction = None if fraction == "none" else float(fraction)
        print(json.dumps(worker(int(n), fraction, int(rank), int(chunk))))
        return
    n = 2 if args.quick else 100
    configs = [
        ("dense, ranks 1/10 of each dimension", n, "0.1", 1, 0),
        ("factored (chunks of 10), ranks 1/10", n, "0.1", 1, 10),
        ("dense, rank 8", n, "none", 8, 0),
        ("factored (chunks of 10), rank 8", n, "none", 8, 10),
    ]
    rows = []
    for label, *spec in configs:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", *map(str, spec)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        row = {"configuration": label, **json.loads(done.stdout.splitlines()[-1])}
        rows.append(row)
        print(
            f"{label:40s} stored {row['stored_values'] / 1e6:6.2f} M values "
            f"(dense maps {row['dense_values'] / 1e6:.1f} M), file {row['saved_file_mib']} MiB, "
            f"peak +{row['peak_above_start_mib']} MiB, {row['cpu_s_per_step']} CPU s/step"
        )
    if not args.quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            json.dumps({"shapes": SHAPES, "batch_samples": 64, "rows": rows}, indent=1)
        )
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
