#!/usr/bin/env bash
# PricePilot's one entry point for a fresh machine (Python 3.11 and nothing else).
#
#   bash scripts/dev.sh demo    create .venv, install PricePilot, run `pricepilot demo`
#   bash scripts/dev.sh check   create .venv, install PricePilot with its dev tools, then run
#                               the formatter check, ruff, mypy and pytest
#
# torch is pinned in constraints.txt (CPU build 2.13.0) and installed first, so that nothing
# that depends on it can pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
what=${1:-check}
shift || true

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "$@"; }

case "$what" in
    demo)
        pip_install -e .
        exec "$VENV/bin/pricepilot" demo "$@"
        ;;
    check)
        pip_install torch==2.13.0
        pip_install -e ".[dev]"
        # Open Bandit Pipeline, to check our off-policy estimators against it: 0.5.7 declares an old
        # Python and pins old libraries, so it goes in without them (its real needs are in [dev]).
        pip_install --no-deps --ignore-requires-python obp==0.5.7
        echo "== ruff format --check"; "$VENV/bin/ruff" format --check src tests benchmarks
        echo "== ruff check";          "$VENV/bin/ruff" check src tests benchmarks
        echo "== mypy";                "$VENV/bin/mypy"
        echo "== pytest";              "$VENV/bin/pytest" -q "$@"
        ;;
    *)
        echo "usage: bash scripts/dev.sh demo|check [extra args]" >&2
        exit 2
        ;;
esac
