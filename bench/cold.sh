#!/usr/bin/env bash
# One cold search of an index: its pages dropped from the page cache, the search held in a
# memory cgroup (v1, page cache counted; needs root) of CACHE_MIB plus OWN_MIB for the
# process itself. Prints the search's summary line and its disk reads per query.
#   sudo bash bench/cold.sh INDEX CACHE_MIB QUERIES GROUNDTRUTH [search args...]
# e.g. sudo bash bench/cold.sh text384.lmd 22 q.fvecs gt.ivecs -L 24 --threads 1
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${LMDISKANN:-$ROOT/target/release/lmdiskann}"
index=$1 cache_mib=$2 queries=$3 truth=$4
shift 4
own_mib=${OWN_MIB:-16}
cg=/sys/fs/cgroup/memory/lmdiskann-cold-$$
scratch=$(mktemp -d)
mkdir "$cg"
# Whatever ends the script (an error, a reader of its output that went away) removes both.
trap 'rmdir "$cg" 2>/dev/null || true; rm -rf "$scratch"' EXIT
echo $(((cache_mib + own_mib) * 1048576)) > "$cg/memory.limit_in_bytes"
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$index"
report=$scratch/report.json
sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" \
    "$BIN" search --index "$index" --query "$queries" --groundtruth "$truth" --report "$report" "$@" 2>&1 | tail -1
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
reads = r["disk_read_bytes"] / 4096 / r["queries"]
print("io %s  pages read from disk per query %.1f  anonymous memory %.1f MiB" % (r["io"], reads, r["anon_rss_bytes"] / 2**20))' "$report"
