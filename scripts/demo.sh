#!/usr/bin/env bash
# The local demo on embedded defaults (SQLite, local Kafka): see README.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
. scripts/venv.sh
exec hub demo "$@"
