#!/usr/bin/env bash
# Builds beyond RAM: synthetic sets built under --max-memory, each inside a memory cgroup of
# the budget (page cache counted). Builds the release binary, then runs bench/scale.py with
# every argument given, e.g.
#   sudo bash scripts/bench-scale.sh --n 1000000,2000000 --budgets 256MiB,512MiB,1GiB --one-shot
#   bash scripts/bench-scale.sh --help
# Needs the Rust toolchain and python3 (standard library only); cgroups need root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --manifest-path "$ROOT/Cargo.toml"
exec python3 "$ROOT/bench/scale.py" "$@"
