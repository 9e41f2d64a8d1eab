# Sourced by scripts/bootstrap.sh, demo.sh and test.sh (from the repository root): puts the
# project virtual environment .venv/ first on PATH when no virtual environment is active
# and .venv/ exists, so `hub` and `python3` are the ones bootstrap.sh installed into.
# bootstrap.sh creates .venv/ when no virtual environment is active.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
  VIRTUAL_ENV="$PWD/.venv"
  PATH="$VIRTUAL_ENV/bin:$PATH"
  export VIRTUAL_ENV PATH
fi
