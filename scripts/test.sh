#!/usr/bin/env bash
# The one test command: sets up a local Python venv with a pinned DuckDB (the
# end-to-end tests in tests/cli/duckdb.rs drive the real DuckDB through it), then
# runs every test target. Extra arguments go to `cargo test`, e.g.
#   bash scripts/test.sh duckdb
# Needs only the Rust toolchain and python3 (with venv/pip).
set -euo pipefail
cd "$(dirname "$0")/.."

DUCKDB_VERSION=2.0.0
PY=.venv/bin/python

if [ ! -x "$PY" ]; then
    echo "scripts/test.sh: creating .venv" >&2
    python3 -m venv .venv
fi

have_duckdb() {
    "$PY" - "$DUCKDB_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
import duckdb  # noqa: F401  (must import, not just be listed)
sys.exit(0 if version("duckdb") == sys.argv[1] else 1)
PYEOF
}

if ! have_duckdb; then
    echo "scripts/test.sh: installing duckdb==$DUCKDB_VERSION into .venv" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
    if ! have_duckdb; then
        echo "scripts/test.sh: duckdb==$DUCKDB_VERSION is still not importable from $PY" >&2
        exit 1
    fi
fi

export LMDISKANN_PYTHON="$PWD/$PY"
# The benchmark is an example: build it so it cannot rot, but it has no tests to run.
cargo build --examples
cargo test --lib --tests "$@"
