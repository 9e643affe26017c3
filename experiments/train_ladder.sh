#!/usr/bin/env bash
# θ_D v6 from scratch (configs/theta_d_v6.py): the β=128 base's nine sittings, then the β ladder
# continued from it. Every step resumes when re-run (orbax checkpoints in runs/). CPU times:
# WORKSPACE.md and the manifests.
#   bash experiments/train_ladder.sh            # all of it
#   BETAS="32 512" bash experiments/train_ladder.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -d data/photos/train ] || "$py" scripts/gather_photos.py
[ -d data/photos/more ] || "$py" scripts/gather_photos.py --more
[ -d data/photos/gcompris ] || "$py" scripts/gather_photos.py --gcompris
[ -d data/pack ] || "$py" scripts/pack_photos.py
recipe=configs/theta_d_v6.py
base_cmd=""
for sitting in sitting1:global-b128 sitting2:global-b128 sitting3:global2-b128 \
    sitting4:global4-b128 sitting5:global5-b128 sitting6:global6-b128 sitting7:global7-b128 \
    sitting8:global8-b128 sitting9:global9-b128; do
  cmd="$py -m rdm.main --config=$recipe:${sitting%%:*} --workdir=runs/${sitting#*:}"
  $cmd
  base_cmd="${base_cmd:+$base_cmd && }$cmd"
done
"$py" scripts/export_model.py --workdir runs/global9-b128 --name msh-n64-beta128 --command "$base_cmd" \
  --eval_photos data/photos/eval
for beta in ${BETAS:-8 32 512 2048}; do
  cmd="$py -m rdm.main --config=$recipe:beta$beta --workdir=runs/ladder8-b$beta"
  $cmd
  "$py" scripts/export_model.py --workdir "runs/ladder8-b$beta" --name "msh-n64-beta$beta" \
    --command "$base_cmd && $cmd"
done
