#!/usr/bin/env python3
"""Builds beyond RAM: lmdiskann builds of synthetic N x dims sets under `--max-memory`, each
held to its budget by a memory cgroup that counts page cache too.

Run it through `bash scripts/bench-scale.sh [ARGS]`, which builds the release binary first.

For every N it writes the seeded set (once, kept in --work) with `lmdiskann generate`, or
with --kind gaussian one without clusters, and its exact top-10 with `lmdiskann
groundtruth`. For every budget it drops the input's pages from the page cache
(posix_fadvise DONTNEED), runs `lmdiskann build --max-memory BUDGET` inside a fresh
memory cgroup (v1, /sys/fs/cgroup/memory) limited to BUDGET + --margin, and then searches the
index at L 64 for recall@10. `--one-shot` adds, for each N, a build without a budget and
without a cgroup, the reference the partitioned builds are compared with.

Columns: build seconds, vectors/s, the build's own peak memory (anonymous RSS, from its
report), the cgroup's peak (own memory plus page cache, memory.max_usage_in_bytes), whether
the cgroup's limit was hit, the temporary disk the build reported, partitions, recall@10.
Without a writable cgroup (not root, or not cgroup v1) builds run unconfined and the cgroup
columns say so.
"""

import argparse
import array
import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "target" / "release" / "lmdiskann"
CGROUP_ROOT = Path("/sys/fs/cgroup/memory")

UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
         "kb": 10**3, "mb": 10**6, "gb": 10**9}


def size(text):
    text = text.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(float(number) * UNITS[text[len(number):].strip()])


def human(n):
    if n is None:
        return ""
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def drop_pages(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class Cgroup:
    """A v1 memory cgroup of `limit` bytes; `None` when cgroups cannot be used here."""

    def __init__(self, limit):
        self.path = CGROUP_ROOT / f"lmdiskann-scale-{os.getpid()}-{time.monotonic_ns()}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit))

    @staticmethod
    def usable():
        return (CGROUP_ROOT / "memory.limit_in_bytes").exists() and os.access(CGROUP_ROOT, os.W_OK)

    def enter(self):
        # Runs in the child between fork and exec: the build starts inside the cgroup.
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def peak(self):
        return int((self.path / "memory.max_usage_in_bytes").read_text())

    def limit_hit(self):
        return int((self.path / "memory.failcnt").read_text()) > 0

    def remove(self):
        try:
            self.path.rmdir()
        except OSError as e:
            print(f"warning: cannot remove {self.path}: {e}", file=sys.stderr)


def write_gaussian(path, rows, dims, rng):
    """`rows` fvecs rows drawn from one Gaussian whose coordinate i has standard deviation
    (i + 1) ** -0.5: a set without clusters, its variance spread as real embeddings' is."""
    scale = [(i + 1) ** -0.5 for i in range(dims)]
    with open(path, "wb") as f:
        for _ in range(rows):
            values = array.array("f", [rng.gauss(0.0, s) for s in scale])
            if sys.byteorder != "little":
                values.byteswap()  # fvecs is little-endian
            f.write(struct.pack("<i", dims))
            values.tofile(f)


def dataset(work, kind, n, dims, queries):
    name = f"{n}x{dims}" if kind == "clustered" else f"{kind}-{n}x{dims}"
    base, query, truth = work / f"base-{name}.fvecs", work / f"query-{name}.fvecs", work / f"truth-{name}.ivecs"
    if not base.exists():
        if kind == "clustered":
            run([BIN, "generate", "--n", n, "--dims", dims, "--queries", queries, "--seed", 7, "--output", base, "--query-output", query])
        else:
            rng = random.Random(7)
            write_gaussian(query, queries, dims, rng)
            write_gaussian(base, n, dims, rng)
    if not truth.exists():
        run([BIN, "groundtruth", "--input", base, "--query", query, "-k", 10, "--output", truth])
    return base, query, truth


def build_and_search(args, base, query, truth, budget):
    index = args.work / "scale.lmd"
    report = args.work / "build-report.json"
    search_report = args.work / "search-report.json"
    for stale in (index, report, search_report):
        stale.unlink(missing_ok=True)
    cmd = [BIN, "build", "--input", base, "--output", index, "--threads", args.threads, "--report", report]
    if budget is not None:
        cmd += ["--max-memory", budget]
    drop_pages(base)
    cgroup = Cgroup(budget + args.margin) if budget is not None and Cgroup.usable() else None
    started = time.monotonic()
    try:
        print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
        done = subprocess.run([str(c) for c in cmd], preexec_fn=cgroup.enter if cgroup else None)
        seconds = time.monotonic() - started
        peak = cgroup.peak() if cgroup else None
        hit = cgroup.limit_hit() if cgroup else None
    finally:
        if cgroup:
            cgroup.remove()
    if done.returncode != 0:
        return {"failed": f"exit {done.returncode}", "seconds": seconds, "cgroup_peak": peak}
    built = json.loads(report.read_text())
    run([BIN, "search", "--index", index, "--query", query, "-k", 10, "-L", args.search_list, "--groundtruth", truth,
         "--output", "/dev/null", "--format", "csv", "--report", search_report, "--threads", args.threads])
    searched = json.loads(search_report.read_text())
    size_on_disk = index.stat().st_size
    index.unlink()
    return {
        "seconds": seconds,
        "vectors_per_second": built["vectors"] / seconds,
        "peak_anon": built.get("peak_anon_rss_bytes"),
        "cgroup_peak": peak,
        "limit_hit": hit,
        "temp_bytes": built.get("temp_bytes"),
        "partitions": built.get("partitions", 1),
        "phases": built.get("phase_seconds"),
        "recall": searched.get("recall"),
        "file_bytes": size_on_disk,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="1000000,2000000,5000000", help="set sizes, comma-separated")
    p.add_argument("--dims", type=int, default=128)
    p.add_argument("--kind", choices=["clustered", "gaussian"], default="clustered",
                   help="clustered: `lmdiskann generate` (64 tight clusters far apart); gaussian: one anisotropic Gaussian")
    p.add_argument("--budgets", default="256MiB,512MiB,1GiB", help="--max-memory values, comma-separated")
    p.add_argument("--one-shot", action="store_true", help="also build each set without a budget, for reference")
    p.add_argument("--margin", default="64MiB", help="cgroup limit = budget + this")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--search-list", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("bench-scale"), help="folder for the sets (kept) and the index")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args()
    args.margin = size(args.margin)
    args.work.mkdir(parents=True, exist_ok=True)
    if not Cgroup.usable():
        print("warning: no writable memory cgroup (v1, root): builds run unconfined, the cgroup columns stay empty",
              file=sys.stderr)

    rows = []
    for n in [int(x) for x in args.n.split(",")]:
        base, query, truth = dataset(args.work, args.kind, n, args.dims, args.queries)
        budgets = ([None] if args.one_shot else []) + [size(b) for b in args.budgets.split(",")]
        for budget in budgets:
            result = build_and_search(args, base, query, truth, budget)
            rows.append({"n": n, "dims": args.dims, "budget": budget, **result})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(f"\nbuilds of synthetic {args.kind} N x {args.dims} (seed 7), {args.threads} threads, recall@10 at L {args.search_list}, "
          f"cgroup limit = budget + {human(args.margin)}\n")
    print("| N | --max-memory | partitions | build s | vectors/s | peak own memory | cgroup peak (with page cache) | limit hit | temp disk | recall@10 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        budget = human(r["budget"]) if r["budget"] is not None else "none (one-shot)"
        if "failed" in r:
            print(f"| {r['n']:,} | {budget} | | failed: {r['failed']} after {r['seconds']:.0f} s | | | {human(r['cgroup_peak'])} | | | |")
            continue
        hit = "" if r["limit_hit"] is None else ("yes" if r["limit_hit"] else "no")
        print(f"| {r['n']:,} | {budget} | {r['partitions']} | {r['seconds']:.1f} | {r['vectors_per_second']:.0f} | "
              f"{human(r['peak_anon'])} | {human(r['cgroup_peak'])} | {hit} | {human(r['temp_bytes'])} | "
              f"{r['recall']:.4f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
