#!/usr/bin/env bash
# The test command: installs what is missing, starts the real Kafka broker and PostgreSQL
# (local stack, idempotent), then runs the default test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --tests
. scripts/venv.sh
hub stack up --with-postgres
export HUB_TEST_POSTGRES_URL=${HUB_TEST_POSTGRES_URL:-postgresql+psycopg://hub:hub@127.0.0.1:${HUB_STACK__POSTGRES_PORT:-25432}/hub}
exec python3 -m pytest "$@"
