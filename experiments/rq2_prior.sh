#!/usr/bin/env bash
# RQ2 (ablations: no M in the loss, no quantization-aware finetuning) and the sensitivity of
# full adaptation to the prior's t, α, σ_slab (one at a time around t=0.005, α=1000, σ=0.05).
# Resumable; results in experiments/results/rq2-*.jsonl and prior-*.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
video=${VIDEO:-carphone}
betas=${BETAS:-128}
steps=${STEPS:-200}
sweep() { "$py" experiments/sweep.py --video "$video" --modes full --betas "$betas" "$@"; }
sweep --out "experiments/results/rq2-$video.jsonl" --set adapt.steps=$steps
sweep --out "experiments/results/rq2-$video.jsonl" --tag noM --set adapt.steps=$steps adapt.model_rate=false
sweep --out "experiments/results/rq2-$video.jsonl" --tag noQ --set adapt.steps=$steps adapt.quantize_aware=false
sweep --out "experiments/results/rq2-$video.jsonl" --tag noM-noQ --set adapt.steps=$steps adapt.model_rate=false adapt.quantize_aware=false
for kv in adapt.t=0.0025 adapt.t=0.01 adapt.t=0.02 adapt.alpha=100 adapt.alpha=10000 \
          adapt.sigma_slab=0.02 adapt.sigma_slab=0.1; do
  sweep --out "experiments/results/prior-$video.jsonl" --tag "$kv" --set adapt.steps=$steps "$kv"
done
