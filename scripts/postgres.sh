#!/usr/bin/env bash
# PostgreSQL for the tests: start | stop | status | url  [--port N] [--home DIR]
# Thin wrapper over hub/dev/stack/postgres.py, run from the repository root so that the
# default home (HUB_HOME, else .hub) is the repository's .hub folder.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m hub.dev.stack.postgres "$@"
