#!/usr/bin/env bash
# The test command: installs what is missing, checks the house rules (ruff, ruff format,
# mypy --strict), starts the real Kafka broker and PostgreSQL (local stack, idempotent),
# then runs the default test suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --tests
. scripts/venv.sh
# the house rules (issue 18): lint, format and strict typing of the product, before any test
PRODUCT=(hub schemas dispatch connectors monitoring)
python3 -m ruff check "${PRODUCT[@]}" reliability bench tests
python3 -m ruff format --check "${PRODUCT[@]}"
python3 -m mypy
hub stack up --with-postgres
export HUB_TEST_POSTGRES_URL=${HUB_TEST_POSTGRES_URL:-postgresql+psycopg://hub:hub@127.0.0.1:${HUB_STACK__POSTGRES_PORT:-25432}/hub}
if [ "$#" -gt 0 ]; then
  exec python3 -m pytest "$@"
fi
# The default suite in two lanes at once: the machine waits on brokers and subprocesses far
# more than it computes, so the integration tests (the shared stack above) run beside the
# unit tests and the fault runs (which start private brokers on free ports). Each lane has
# its own temporary folder; the second lane's report follows the first one's.
# The integration tests that start servers of their own (private brokers, fresh venvs)
# need nothing of the shared stack: these run in the first lane, to even out the lanes
# (the others, test_bootstrap.py and test_bench_smoke.py, stay in the second: measured
# 14:22 against 11:08 with all of them in the first).
own_servers=(tests/integration/test_bench_w4_smoke.py tests/integration/test_bench_push_smoke.py
  tests/integration/test_stack.py tests/integration/test_stack_secure.py
  tests/integration/test_stack_hardening.py)
lanes=$(mktemp -d)
python3 -m pytest tests/integration "${own_servers[@]/#/--ignore=}" -p no:cacheprovider \
  --basetemp "$lanes/integration" > "$lanes/integration.log" 2>&1 &
integration=$!
set +e
python3 -m pytest tests/unit tests/faults tests/fuzz "${own_servers[@]}" -p no:cacheprovider \
  --basetemp "$lanes/other"
other=$?
wait "$integration"
status=$?
echo "================ tests/integration (second lane) ================"
cat "$lanes/integration.log"
[ "$other" -eq 0 ] && [ "$status" -eq 0 ]
