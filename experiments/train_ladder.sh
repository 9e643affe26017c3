#!/usr/bin/env bash
# θ_D from scratch: the β=128 base's nine sittings (configs/theta_d_v6.py), then the v7 ladder
# (configs/theta_d_v7.py), each member continuing its neighbour until its held-out L converges.
# Every step resumes when re-run (orbax checkpoints in runs/); a converged member trains no
# further. CPU times: WORKSPACE.md and the manifests.
#   bash experiments/train_ladder.sh            # all of it
#   BASE=shipped BETAS="4096 0.5" bash experiments/train_ladder.sh  # members from the shipped
#                                                                     # ladder, in chain order
#   STOP_BY=$(date -d '+150 min' +%s) ...  # the sitting ends by then (at a checkpoint) and the
#                                          # member is exported: commit it, the next goes on
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -d data/photos/train ] || "$py" scripts/gather_photos.py
[ -d data/photos/more ] || "$py" scripts/gather_photos.py --more
[ -d data/photos/gcompris ] || "$py" scripts/gather_photos.py --gcompris
[ -d data/pack ] || "$py" scripts/pack_photos.py
recipe=configs/theta_d_v6.py
base_cmd=""
if [ "${BASE:-train}" = shipped ]; then
  base_cmd=$("$py" -c "from rdm import zoo; print(zoo.manifest('msh-n64-beta128')['command'])")
else
  for sitting in sitting1:global-b128 sitting2:global-b128 sitting3:global2-b128 \
      sitting4:global4-b128 sitting5:global5-b128 sitting6:global6-b128 sitting7:global7-b128 \
      sitting8:global8-b128 sitting9:global9-b128; do
    cmd="$py -m rdm.main --config=$recipe:${sitting%%:*} --workdir=runs/${sitting#*:}"
    $cmd
    base_cmd="${base_cmd:+$base_cmd && }$cmd"
  done
  "$py" scripts/export_model.py --workdir runs/global9-b128 --name msh-n64-beta128 --command "$base_cmd" \
    --eval_photos data/photos/eval
fi
declare -A chain=([128]="$base_cmd")
manifest_command() { "$py" -c "from rdm import zoo; print(zoo.manifest('$1')['command'])"; }
for beta in ${BETAS:-32 8 0.5 512 2048 4096 8192}; do
  if [ -n "${STOP_BY:-}" ] && [ "$(date +%s)" -ge "$STOP_BY" ]; then
    echo "STOP_BY has passed: β=$beta and the members after it wait for the next sitting"; break
  fi
  read -r from from_name name workdir next < <("$py" -c "from configs.theta_d_v7 import *
print(NEIGHBOUR[$beta], name(NEIGHBOUR[$beta]), name($beta), workdir($beta), next_sitting($beta))")
  case $next in
    done) echo "β=$beta: $name is shipped and converged"; continue ;;
    continue)  # shipped at an earlier sitting's end (another machine): one more sitting from it
      chain[$beta]=$(manifest_command "$name")
      sittings="--config.train.init_from=$name" ;;
    start)  # from the neighbour as shipped: this run's commands, else its manifest's
      chain[$beta]="${chain[$from]:-$(manifest_command "$from_name")}"
      sittings=$("$py" -c "from configs.theta_d_v7 import SITTINGS; print(*SITTINGS.get($beta, ('',)), sep='\n')") ;;
  esac
  while IFS= read -r overrides; do
    cmd="$py -m rdm.main --config=configs/theta_d_v7.py:beta$beta --workdir=$workdir"
    cmd="$cmd${overrides:+ $overrides}${STOP_BY:+ --config.train.stop_by=$STOP_BY}"
    $cmd </dev/null
    chain[$beta]="${chain[$beta]} && $cmd"
  done <<< "$sittings"
  "$py" scripts/export_model.py --workdir "$workdir" --name "$name" \
    --command "${chain[$beta]}"
done
