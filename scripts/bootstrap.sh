#!/usr/bin/env bash
# Installs what a fresh machine lacks to run Passerelle: the Python package with its test
# dependencies (editable), and checks Java + Maven for the local Kafka broker.
# Idempotent and quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2; exit 1
fi
stamp=.hub/.installed-$(sha256sum pyproject.toml | cut -c1-16)
# the installed package itself (-P: not the checkout on sys.path), not a `hub` on PATH:
# a stale pyenv shim can outlive the install
if [ ! -f "$stamp" ] || ! "$PY" -P -c 'import hub.cli' >/dev/null 2>&1; then
  echo "bootstrap: installing the passerelle package and its test dependencies"
  "$PY" -m pip install --quiet --disable-pip-version-check -e '.[test]'
  mkdir -p .hub && rm -f .hub/.installed-* && touch "$stamp"
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
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing prometheus (Debian package, for the monitoring tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  else
    echo "bootstrap: the monitoring tests need promtool and prometheus: apt-get install prometheus" >&2
  fi
fi
