#!/usr/bin/env bash
# The two commands of the README:
#   ./run.sh main [--config=... --workdir=... overrides]   the main job (bundled default)
#   ./run.sh test [pytest args]                            the test suite
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
py="$(scripts/setup.sh)"
case "${1:-}" in
  main)
    shift
    exec "$py" -m rdm.main --config=configs/xiph_beta.py --workdir=runs/main "$@" ;;
  test)
    shift
    # One worker per core: the suite's time is mostly single-threaded XLA compilation.
    exec "$py" -m pytest -q --numprocesses=auto --dist=worksteal "$@" ;;
  *)
    echo "usage: ./run.sh main|test [args]" >&2; exit 64 ;;
esac
