#!/usr/bin/env bash
# Install-and-smoke on one Python minor version (3.11, 3.12, 3.13): a fresh venv, `pip install .`
# (non-editable, the locked stack), `rdm --help`, then the first I-frame of the bundled bikes clip
# compressed by the installed command and decompressed in another process, bit-exactly: the
# stream equals an in-process encode's bytes and the decoded frame its reconstruction.
#   .ci/smoke.sh 3.12
set -euo pipefail
version="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$("$root/scripts/find_python.sh" "$version")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
"$py" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip 2>/dev/null
"$work/venv/bin/python" -m pip install -q -c "$root/constraints.txt" "$root"
"$work/venv/bin/rdm" --help > /dev/null
cd "$work"  # away from the checkout: the installed package, not the source tree, is imported
"$work/venv/bin/rdm" compress bikes --frames 1 -o first.rdm
"$work/venv/bin/rdm" decompress first.rdm -o first.npy
"$work/venv/bin/python" - <<'PY'
import pathlib, sys
import numpy as np
import rdm
from rdm import data, stream, zoo
assert 'site-packages' in rdm.__file__, rdm.__file__
encoded = stream.encode_frames(zoo.load_global_model('msh-n64-beta128'),
                               data.read_iframes('bikes', max_frames=1))
assert encoded.data == pathlib.Path('first.rdm').read_bytes(), 'the CLI wrote other bytes'
assert np.array_equal(np.load('first.npy'), encoded.x_hat), 'decoded frame differs'
print(f'Python {sys.version.split()[0]}: {len(encoded.data)} bytes, decoded bit-exactly')
PY
echo "smoke $version: passed in $((SECONDS - start)) s"
