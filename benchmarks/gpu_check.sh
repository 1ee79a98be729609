#!/usr/bin/env bash
# One prepared GPU check (a few minutes on a CUDA machine): CUDA training, export, GPU parity, GPU benchmarks.
# Usage: bash benchmarks/gpu_check.sh [OUTDIR]   (uses python3 on PATH, with torch CUDA, onnx, onnxruntime)
set -uo pipefail
out=${1:-gpu_check}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'onnxruntime', o.__version__, o.get_available_providers())"
echo "== CUDA training: 300 steps of the classic 64x64 model, batch 128, AMP"
python3 -m train --device cuda --max-steps 300 --num-images 20000 --sample-every 300 --checkpoint-every 300 \
  --out "$out/run" --quiet || exit 1
python3 -c "import json; r=[json.loads(l) for l in open('$out/run/metrics.jsonl')][50:]; import statistics as s; \
print('CUDA training images/s (median of steps 51-300):', s.median(x['images_per_s'] for x in r))"
echo "== export (CPU) and CUDA parity"
python3 -m export "$out/run" --outdir "$out/export" --fp16 --force || exit 1
python3 -m benchmarks.gpu_parity "$out/export" "$out/run/checkpoints/last.pt"
echo "== CUDA benchmarks"
python3 -m pytest benchmarks -q -p no:cacheprovider --benchmark-enable --benchmark-only \
  --benchmark-json="$out/gpu.json" --benchmark-columns=median,rounds -k "cuda"
python3 -m benchmarks report "$out/gpu.json" && cp benchmarks/results/results.md "$out/gpu_results.md"
