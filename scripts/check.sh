#!/usr/bin/env bash
# The whole test suite: lint, types, layer contracts, then every test on SQLite and PostgreSQL.
# Run from the repository root inside the project's venv (the README's second command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${VIRTUAL_ENV:-.venv}/bin"

echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy"
"$bin/mypy"
echo "== import-linter"
"$bin/lint-imports"
echo "== pytest"
"$bin/python" -m pytest "$@"
