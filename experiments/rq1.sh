#!/usr/bin/env bash
# RQ1 (and the issue-6 target): no adaptation / encoder-only / full-model on the bundled clips
# over the shipped β ladder, real bytes. MODES=none,latents,encoder,full adds direct latent
# optimisation. Resumable: finished points are skipped. Then BD metrics + plots.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
for video in ${VIDEOS:-bikes carphone}; do
  "$py" experiments/sweep.py --out "experiments/results/rq1-$video-m2.jsonl" --video "$video" \
    --modes "${MODES:-none,encoder,full}" --betas "${BETAS:-8,32,128,512,2048}" \
    --set adapt.steps=${STEPS:-1000}
done
"$py" experiments/report.py experiments/results/rq1-*-m2.jsonl --anchor encoder
