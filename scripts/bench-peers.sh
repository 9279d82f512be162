#!/usr/bin/env bash
# Side-by-side benchmark of lmdiskann against DiskANN (memory and disk index), hnswlib,
# faiss HNSW and DuckDB's exact scan. Sets up ./.venv-bench with the pinned peers from PyPI
# (once), builds the release binary, then runs bench/peers.py with every argument given, e.g.
#   bash scripts/bench-peers.sh --sets sift5k,mnist10k,synthetic20k --json peers.json
#   bash scripts/bench-peers.sh --sets synthetic25kx384 --systems lmdiskann,hnswlib-m16   # 25k x 384
#   bash scripts/bench-peers.sh --help
# Relative paths in the arguments are taken from the current directory. Needs the Rust
# toolchain and Python 3.11 with venv/pip (the pinned wheels below are known to install
# together there): python3.11 if it is on PATH, else python3; BENCH_PYTHON=... overrides.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv-bench"
PY="$VENV/bin/python"
BASE_PYTHON="${BENCH_PYTHON:-$(command -v python3.11 || command -v python3)}"

# faiss-cpu >= 1.9 needs numpy 2, which diskannpy 0.7 does not support: keep these together.
PEERS=(diskannpy==0.7.0 hnswlib==0.8.0 faiss-cpu==1.8.0.post1 duckdb==2.0.0 numpy==1.25.0)

# Installed at the pinned versions? (Whether each one imports is checked separately: a peer
# that cannot load gets a "failed" row in the report, the others still run.)
have_peers() {
    "$PY" - "${PEERS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if all(version(n) == v for n, v in (p.split("==") for p in sys.argv[1:])) else 1)
PYEOF
}

if [ ! -x "$PY" ]; then
    echo "bench-peers.sh: creating $VENV with $BASE_PYTHON" >&2
    "$BASE_PYTHON" -m venv "$VENV"
fi
if ! have_peers; then
    echo "bench-peers.sh: installing ${PEERS[*]} into $VENV" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check "${PEERS[@]}"
    if ! have_peers; then
        echo "bench-peers.sh: the pinned peers are still not installed in $PY" >&2
        exit 1
    fi
fi

for module in diskannpy hnswlib faiss duckdb; do
    "$PY" -c "import $module" 2>/dev/null \
        || echo "bench-peers.sh: warning: $module does not import; its rows will say failed" >&2
done

cargo build --release --manifest-path "$ROOT/Cargo.toml"
exec "$PY" "$ROOT/bench/peers.py" "$@"
