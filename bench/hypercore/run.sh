#!/usr/bin/env bash
# Installs the pinned hypercore (npm ci, from package-lock.json) and runs the
# append benchmark: one JSON line per mode with blocks/s.
#   bench/hypercore/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error >&2
exec node bench.js "$@"
