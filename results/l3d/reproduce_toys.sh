#!/usr/bin/env bash
# The L3D toy table and figures of results/l3d/README.md, at the paper's settings (3 seeds) and
# with mechcirc's earlier variants. One CPU thread. Each paper-setting toy runs its 3 seeds and
# both divergences (the draft's MSE, the authors' code's `mse-authors`) in one process
# (`--seeds 0,1,2 --divergence mse,mse-authors`: the 3 toys trained as one stacked model, the 6
# decompositions fitted as one stack), one run folder per member: OUT/<toy>-paper/<divergence>-seed<s>.
#   bash results/l3d/reproduce_toys.sh [OUT=runs/l3d-toys]
# then: python results/l3d/collect_toys.py OUT   (writes toys.json, the sweep figures and the table)
set -euo pipefail
OUT=${1:-runs/l3d-toys}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
# a run folder, or a folder of --seeds/--divergence run folders, all done
finished() {
  local dir=$1 manifest
  if [ -f "$dir/manifest.json" ]; then grep -q '"status": "done"' "$dir/manifest.json"; return; fi
  compgen -G "$dir/*/manifest.json" >/dev/null || return 1
  for manifest in "$dir"/*/manifest.json; do grep -q '"status": "done"' "$manifest" || return 1; done
}
l3d() { local name=$1; shift; finished "$OUT/$name" && return 0
        echo "== $name: mechcirc l3d $*"; nice -n 19 mechcirc l3d "$@" --out "$OUT/$name" --overwrite; }

# the paper's settings, 3 seeds x 2 divergences each (the script skips finished runs, so it can be
# stopped and restarted)
BOTH=(--preset paper --seeds 0,1,2 --divergence mse,mse-authors)
l3d circuit-superposition-paper --toy circuit-superposition "${BOTH[@]}"
l3d tms-paper --toy tms "${BOTH[@]}"
l3d squares-paper --toy squares "${BOTH[@]}"
l3d high-rank-paper-rank3 --toy high-rank "${BOTH[@]}"
fast_toys() {
  local seed=$1
  l3d circuit-superposition-nobias-fast-seed$seed --toy circuit-superposition-nobias --preset fast --seed $seed --n-eval 8192
  l3d tms-tied-fast-seed$seed --toy tms-tied --preset fast --seed $seed --n-eval 8192
  l3d squares-relu-fast-seed$seed --toy squares-relu --preset fast --seed $seed --n-eval 8192
}
fast_toys 0
# higher-rank circuits: rank swept 1-8 (n_v 10), seed 0, on the same trained toy
for rank in 1 2 4 5 6 7 8; do
  l3d high-rank-paper-rank$rank-seed0 --toy high-rank --preset paper --seed 0 --rank $rank \
      --toy-weights "$OUT/high-rank-paper-rank3/mse-seed0/toy_model.safetensors"
done
# X -> X^2: n_v in {3, 5, 10, 15} at rank 1, seed 0, on the same trained toy
for nv in 3 5 10 15; do
  l3d squares-paper-nv$nv-rank1-seed0 --toy squares --preset paper --seed 0 --rank 1 --n-subnetworks $nv \
      --toy-weights "$OUT/squares-paper/mse-seed0/toy_model.safetensors"
done
fast_toys 1
fast_toys 2
