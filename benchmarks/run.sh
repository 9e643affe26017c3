#!/usr/bin/env bash
# The benchmark in one command: bash benchmarks/run.sh [--skip_main_job] [--repeats N]
# Makes CompressAI's own environment on first use (CompressAI needs torch + torchvision, which
# must stay out of rdm's), then runs benchmarks/bench.py; the report lands in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/setup.sh)"
cai=${COMPRESSAI_VENV:-.venv-compressai}
if ! "$cai/bin/python" -c 'import compressai' 2>/dev/null; then
  python3 -m venv "$cai"
  "$cai/bin/pip" install -q 'torch==2.14.1' 'torchvision==0.29.1' 'compressai==1.2.8'
fi
exec "$py" benchmarks/bench.py --compressai_python "$cai/bin/python" "$@"
