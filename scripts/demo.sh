#!/usr/bin/env bash
# The local demo on embedded defaults (SQLite, local Kafka): see README.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
user_venv=${VIRTUAL_ENV:-}
. scripts/venv.sh
status=0
hub demo "$@" || status=$?
if [ "$status" = 0 ] && [ -z "$user_venv" ] && [ -n "${VIRTUAL_ENV:-}" ]; then
  # the commands the demo prints need this hub, not whatever `hub` the shell finds
  echo
  echo "The hub above is installed in $VIRTUAL_ENV; before the commands above, run:"
  echo "  . .venv/bin/activate"
fi
exit "$status"
