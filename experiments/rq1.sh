#!/usr/bin/env bash
# RQ1 (and the issue-6 target): none / latents / encoder / full on the bundled clips at 4 β,
# real bytes.
# Resumable: finished points are skipped. Then BD metrics + plots.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
for video in ${VIDEOS:-bikes carphone}; do
  "$py" experiments/sweep.py --out "experiments/results/rq1-$video.jsonl" --video "$video" \
    --modes "${MODES:-none,latents,encoder,full}" --betas "${BETAS:-32,64,128,256}" \
    --set adapt.steps=${STEPS:-200}
done
"$py" experiments/report.py experiments/results/rq1-*.jsonl --anchor encoder
