#!/usr/bin/env bash
# Make an environment with rdm and its pinned stack; fast when nothing changed.
# Uses the active virtual environment if there is one, else creates .venv in the repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  [ -x "$root/.venv/bin/python" ] || python3.11 -m venv "$root/.venv" 2>/dev/null || python3 -m venv "$root/.venv"
  py="$root/.venv/bin/python"
fi
stamp="$("$py" -c 'import sys; print(sys.prefix)')/.rdm-setup-stamp"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$py" -m pip install -q --upgrade pip >&2
  "$py" -m pip install -q -e "$root[test]" >&2
  echo "$want" > "$stamp"
fi
echo "$py"
