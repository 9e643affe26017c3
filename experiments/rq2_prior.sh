#!/usr/bin/env bash
# RQ2 (ablations: no M in the loss, no quantization-aware finetuning, both) and the sensitivity
# of full adaptation to the prior's t, α, σ_slab (one at a time around the defaults t=0.005,
# α=1000, σ_slab=0.05). Resumable; results in experiments/results/rq2-$VIDEO$SUFFIX.jsonl and
# prior-$VIDEO$SUFFIX.jsonl (SUFFIX names the θ_D, as in rq1.sh). PARTS=ablations or PARTS=prior
# runs one half; PRIOR=... picks its points.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
video=${VIDEO:-bikes}
suffix=${SUFFIX--thetaD6}
betas=${BETAS:-128}
parts=${PARTS:-ablations prior}
# Only joint-phase settings vary, so every point shares the default's encoder phase (and the
# default point itself is RQ1's). EXTRA: overrides for every point, e.g. "--config.adapt.joint_steps=400".
sweep() { "$py" experiments/sweep.py --video "$video" --modes full --betas "$betas" "$@"; }
if [[ $parts == *ablations* ]]; then
  out="experiments/results/rq2-$video$suffix.jsonl"
  sweep --out "$out" ${EXTRA:-}
  sweep --out "$out" --tag noM ${EXTRA:-} --config.adapt.model_rate=false
  sweep --out "$out" --tag noQ ${EXTRA:-} --config.adapt.quantize_aware=false
  sweep --out "$out" --tag noM-noQ ${EXTRA:-} --config.adapt.model_rate=false \
    --config.adapt.quantize_aware=false
fi
if [[ $parts == *prior* ]]; then
  for kv in ${PRIOR:-adapt.t=0.0025 adapt.t=0.01 adapt.t=0.02 adapt.alpha=100 adapt.alpha=10000 \
                     adapt.sigma_slab=0.02 adapt.sigma_slab=0.1}; do
    sweep --out "experiments/results/prior-$video$suffix.jsonl" --tag "$kv" ${EXTRA:-} "--config.$kv"
  done
fi
