#!/usr/bin/env bash
# Make an environment with rdm and its locked stack (constraints.txt); fast when nothing changed.
# Uses the active virtual environment if there is one, else creates .venv in the repository with
# the newest supported Python found (python3.13, 3.12, 3.11 on PATH or under pyenv).
#   RDM_EXTRAS   extras to install (default: test,tfds — the suite tests the tfds builder too)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${RDM_EXTRAS:-test,tfds}"

if [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  [ -x "$root/.venv/bin/python" ] || "$("$root/scripts/find_python.sh" 3.13 3.12 3.11)" -m venv "$root/.venv"
  py="$root/.venv/bin/python"
fi
stamp="$("$py" -c 'import sys; print(sys.prefix)')/.rdm-setup-stamp"
want="$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$py" -m pip install -q --upgrade pip >&2
  "$py" -m pip install -q -c "$root/constraints.txt" -e "$root[$extras]" >&2
  echo "$want" > "$stamp"
fi
echo "$py"
