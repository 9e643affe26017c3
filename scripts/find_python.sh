#!/usr/bin/env bash
# The first working Python of the minor versions given, on PATH or under pyenv:
#   scripts/find_python.sh 3.13 3.12 3.11
for v in "$@"; do
  for candidate in "python$v" "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v"*/bin/"python$v"; do
    if "$candidate" -c 'pass' >/dev/null 2>&1; then echo "$candidate"; exit 0; fi
  done
done
echo "no Python $* found on PATH or under pyenv" >&2; exit 1
