#!/usr/bin/env bash
# Sets up everything (venv, runtime, bundled default model) and launches the Workbench app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh model
exec .venv/bin/workbench gui "$@"
