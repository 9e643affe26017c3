#!/usr/bin/env bash
# Why does full adaptation pay more on camera-native 1080p than on downscaled clips (bikes)?
# Two 960×540 clips cut from the 1080p phone clip (scripts/gather_clips.py), with the same
# frames, pixel count and finetuning: the centre crop keeps native pixel statistics, the 2×
# Lanczos downscale keeps the whole scene at a downscaled clip's statistics. Both are stored
# losslessly (FFV1), so the only difference is the content each pixel carries. RQ1 on each
# (encoder-only and full, 6 fps: 9 I-frames, 4.67 M pixels), then BD against encoder-only.
# Resumable (finished points are skipped). BETAS and SUFFIX as in rq1.sh; FPS: the I-frame rate.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
source=data/videos/VID_20191220_170832.mp4
derived=data/videos/derived
ffmpeg=$("$py" -c 'from rdm import data; print(data.ffmpeg_binary())')
[[ -f $source ]] || { echo "$source missing: run python scripts/gather_clips.py" >&2; exit 1; }
mkdir -p "$derived"
declare -A filters=([dogcrop960]='crop=960:540:480:270' [dogdown960]='scale=960:540:flags=lanczos')
for name in dogcrop960 dogdown960; do
  clip="$derived/$name.mkv"
  [[ -f $clip ]] || "$ffmpeg" -hide_banner -loglevel error -i "$source" -an \
    -vf "${filters[$name]}" -c:v ffv1 -pix_fmt yuv420p "$clip"
  out="experiments/results/rq1-$name${SUFFIX--thetaD6}.jsonl"
  "$py" experiments/sweep.py --out "$out" --video "$clip" --modes encoder,full \
    --betas "${BETAS:-128,2048,512,32,8}" \
    --config.data.fps="${FPS:-6}" --config.adapt.crop=256 --config.adapt.batch_size=4 \
    --config.adapt.candidates=2
  "$py" experiments/report.py "$out" --anchor encoder
done
