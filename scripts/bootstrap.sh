#!/usr/bin/env bash
# Installs what a fresh machine lacks to run Passerelle: the Python package (editable; with
# its test dependencies under --tests), and checks Java + Maven for the local Kafka broker;
# under --tests also Prometheus (promtool, prometheus: the monitoring tests only).
# Idempotent and quiet when everything is there.
#
# Where the package goes (scripts/venv.sh then puts that environment first on PATH):
# - the active virtual environment ($VIRTUAL_ENV), if any;
# - else $PYTHON when it is itself a virtual environment's interpreter (chosen on purpose);
# - else the project's .venv/: reused when it works, else created with $PYTHON (default
#   python3). Never the interpreter's own environment: on a PEP 668 Python (Debian's
#   python3) it is refused, and elsewhere (pyenv, python.org) a second clone's install
#   would silently take the `hub` of the first one over.
set -euo pipefail
cd "$(dirname "$0")/.."

tests=0
for arg in "$@"; do
  case $arg in
    --tests) tests=1 ;;
    *) echo "bootstrap: unknown argument $arg (usage: bootstrap.sh [--tests])" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "bootstrap: no $PY found: install Python >= 3.11 (or set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python >= 3.11 is required (found $("$PY" --version 2>&1); set PYTHON=/path/to/python3.11)" >&2; exit 1
fi
if [ -n "${VIRTUAL_ENV:-}" ]; then
  :  # the active environment (its python3 is first on PATH)
elif [ -n "${PYTHON:-}" ] && "$PY" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  :  # PYTHON names a virtual environment's interpreter: installed there
elif [ -x .venv/bin/python ] && .venv/bin/python -c '' 2>/dev/null; then
  PY=.venv/bin/python
else
  echo "bootstrap: no virtual environment active: creating the project's .venv/ with $PY"
  if ! "$PY" -m venv --clear .venv >/dev/null; then
    echo "bootstrap: cannot create .venv with $PY: install its venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  PY=.venv/bin/python
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2; exit 1
fi

# one stamp per (pyproject.toml, environment); .test also covers the demo's needs
prefix=$("$PY" -c 'import sys; print(sys.prefix)')
key=$({ cat pyproject.toml; echo "$prefix"; } | sha256sum | cut -c1-16)
if [ "$tests" = 1 ]; then want=test; extras='[test]'; probe='import hub.cli, pytest'
else want=base; extras=''; probe='import hub.cli'; fi
stamped=0
if [ -f ".hub/.installed-$key.test" ] || { [ "$want" = base ] && [ -f ".hub/.installed-$key.base" ]; }; then
  stamped=1
fi
# the installed package itself (-P: not the checkout on sys.path), not a `hub` on PATH:
# a stale pyenv shim can outlive the install
if [ "$stamped" = 0 ] || ! "$PY" -P -c "$probe" >/dev/null 2>&1; then
  what="the passerelle package"; [ "$tests" = 1 ] && what="$what and its test dependencies"
  echo "bootstrap: installing $what into $prefix"
  "$PY" -m pip install --quiet --disable-pip-version-check -e ".$extras"
  mkdir -p .hub && rm -f .hub/.installed-* && touch ".hub/.installed-$key.$want"
fi

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: the local Kafka broker needs Java 17+ and Maven: install ${missing[*]}" >&2; exit 1
  fi
fi
# Monitoring tests (issue 5) run the real promtool and prometheus (Debian's package).
if [ "$tests" = 1 ] && { ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing prometheus (Debian package, for the monitoring tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  else
    echo "bootstrap: the monitoring tests need promtool and prometheus: apt-get install prometheus" >&2
  fi
fi
