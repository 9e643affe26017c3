#!/usr/bin/env bash
# RQ1: encoder-only and full adaptation on the bundled clips over the shipped β ladder, real bytes
# ("none" is every run's candidate encoder@0, θ_D's own stream). MODES=latents,encoder,full adds
# direct latent optimisation; EQUAL_STEPS=1 adds encoder-only at the full run's total steps (tag
# 400steps). Resumable: finished points are skipped. Then BD metrics + plots, and the coded
# L_RDM along each full run's candidates (RQ4's step axis).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
betas=(${BETAS:+--betas "$BETAS"})  # else sweep.py's default: five β across the shipped ladder
for video in ${VIDEOS:-bikes carphone}; do
  out="experiments/results/rq1-$video${SUFFIX--thetaD7}.jsonl"
  "$py" experiments/sweep.py --out "$out" --video "$video" --modes "${MODES:-encoder,full}" \
    "${betas[@]}"
  if [[ -n ${EQUAL_STEPS:-} ]]; then
    "$py" experiments/sweep.py --out "$out" --video "$video" --modes encoder --tag 400steps \
      "${betas[@]}" --config.adapt.steps=400
  fi
  "$py" experiments/report.py "$out" --anchor encoder
  "$py" experiments/rq4.py --candidates "$out"
done
