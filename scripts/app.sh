#!/usr/bin/env bash
# Sets up everything (venv, runtime, bundled default model) and launches the Workbench app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh model
# Until the desktop app lands, the CLI lists the library (the bundled model is assembled and registered on
# first run).
exec .venv/bin/workbench list "$@"
