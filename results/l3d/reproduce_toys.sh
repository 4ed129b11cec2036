#!/usr/bin/env bash
# The L3D toy table and figures of results/l3d/README.md, at the paper's settings (3 seeds) and
# with mechcirc's earlier variants. One CPU thread: about 5 CPU-minutes a paper-setting run (~45 min
# of wall time on the shared 2-core machine), 33 runs.
#   bash results/l3d/reproduce_toys.sh [OUT=runs/l3d-toys]
# then: python results/l3d/collect_toys.py OUT   (writes toys.json, the sweep figures and the table)
set -euo pipefail
OUT=${1:-runs/l3d-toys}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
l3d() { local name=$1; shift; [ -f "$OUT/$name/manifest.json" ] && grep -q '"status": "done"' "$OUT/$name/manifest.json" && return 0
        echo "== $name: mechcirc l3d $*"; nice -n 19 mechcirc l3d "$@" --out "$OUT/$name" --overwrite; }

# seed 0 of every toy first (the script skips finished runs, so it can be stopped and restarted)
paper_toys() {
  local seed=$1
  l3d circuit-superposition-paper-seed$seed --toy circuit-superposition --preset paper --seed $seed
  l3d tms-paper-seed$seed --toy tms --preset paper --seed $seed
  l3d squares-paper-seed$seed --toy squares --preset paper --seed $seed
  l3d high-rank-paper-rank3-seed$seed --toy high-rank --preset paper --seed $seed
}
fast_toys() {
  local seed=$1
  l3d circuit-superposition-nobias-fast-seed$seed --toy circuit-superposition-nobias --preset fast --seed $seed --n-eval 8192
  l3d tms-tied-fast-seed$seed --toy tms-tied --preset fast --seed $seed --n-eval 8192
  l3d squares-relu-fast-seed$seed --toy squares-relu --preset fast --seed $seed --n-eval 8192
}
paper_toys 0
# the authors' code differentiates sum(f * (f - f_ref)), not the MSE: both on seed 0
l3d circuit-superposition-paper-authors-seed0 --toy circuit-superposition --preset paper --seed 0 \
    --divergence mse-authors --toy-weights "$OUT/circuit-superposition-paper-seed0/toy_model.safetensors"
fast_toys 0
paper_toys 1
paper_toys 2
# higher-rank circuits: rank swept 1-8 (n_v 10), seed 0, on the same trained toy
for rank in 1 2 4 5 6 7 8; do
  l3d high-rank-paper-rank$rank-seed0 --toy high-rank --preset paper --seed 0 --rank $rank \
      --toy-weights "$OUT/high-rank-paper-rank3-seed0/toy_model.safetensors"
done
# X -> X^2: n_v in {3, 5, 10, 15} at rank 1, seed 0, on the same trained toy
for nv in 3 5 10 15; do
  l3d squares-paper-nv$nv-rank1-seed0 --toy squares --preset paper --seed 0 --rank 1 --n-subnetworks $nv \
      --toy-weights "$OUT/squares-paper-seed0/toy_model.safetensors"
done
fast_toys 1
fast_toys 2
