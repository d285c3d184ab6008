#!/usr/bin/env bash
# The project's whole test run, from a fresh clone: install everything, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
