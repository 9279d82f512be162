#!/usr/bin/env python3
"""Side-by-side benchmark of lmdiskann against other vector indexes.

Run it through `bash scripts/bench-peers.sh [ARGS]`, which creates `.venv-bench` with the
pinned peers, builds the release binary and then runs this file with the venv's Python.

Every system builds and searches the same files: the real sets under `--data` (sift5k,
mnist10k) and synthetic sets written by `lmdiskann generate` with a fixed seed. Recall@10 is
measured against exact top-100 ground truth computed once per set with faiss IndexFlatL2.

Each build and each search runs in its own worker process (`peers.py worker SPEC.json`), so
the peak RSS reported for a phase is that phase's alone, not the sum of everything the
driver has imported or allocated before. The driver itself only orchestrates and prints.

Systems:
  lmdiskann     the release binary: `build`, then `search` once per L of the sweep
  diskann-mem   diskannpy build_memory_index + StaticMemoryIndex
  diskann-disk  diskannpy build_disk_index + StaticDiskIndex (reads its graph with O_DIRECT)
  hnswlib       hnswlib HNSW, M=32, ef_construction=200
  hnswlib-m16   hnswlib HNSW, M=16, ef_construction=200 (the setting issue 15's build target names)
  faiss-hnsw    faiss IndexHNSWFlat(d, 32), efConstruction=200
  duckdb-exact  DuckDB `ORDER BY array_distance(emb, q) LIMIT 10` over a FLOAT[d] table

Cold cache (`--cache 25,10`): the disk indexes (lmdiskann, diskann-disk) are searched again
with only a fraction of their index in memory. Before every timed run the index's pages are
dropped from the page cache (posix_fadvise DONTNEED), and the search process runs in a
memory cgroup (v1, page cache counted; needs root) limited to that fraction of the index's
bytes plus the process's own memory (lmdiskann: 16 MiB and its query file; DiskANN: what
its worker grew by in the warm run) and 4 MiB. lmdiskann caches in
the page cache, which starts empty each run; DiskANN reads its graph with O_DIRECT, so its
share is given to it as a node cache of the same fraction of its nodes, filled at open as
DiskANN does (before the run). Reads/query are the bytes read from storage per query
(read_bytes of /proc/PID/io) over the bytes one node read takes: lmdiskann's block (at least
a 4 KiB page), DiskANN's node rounded up to 4 KiB sectors.
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BINARY = REPO / "target" / "release" / "lmdiskann"

K = 10  # recall@K is what every table reports
GT_K = 100  # depth of the exact ground truth we compute and cache
# L / complexity / ef values: steps of about 1.2x where the recall targets are usually
# crossed, so "QPS at recall 0.95" is not decided by which system lands just above a
# coarse step.
SWEEP = [10, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256]
TARGETS = [0.90, 0.95, 0.99]  # matched-recall columns of the summary table
SYNTH_DIMS = 128
SYNTH_SEED = 7
REAL_SETS = ["sift5k", "mnist10k", "text384"]
DEFAULT_SETS = "sift5k,mnist10k,synthetic100k,synthetic1m"
DEFAULT_SEARCH = 64  # lmdiskann's default L: the build table's recall column is read here
PEER_PACKAGES = ["diskannpy", "hnswlib", "faiss-cpu", "duckdb", "numpy"]

# Build parameters, the same for every graph index where the knob exists.
DISKANN_R = 64
DISKANN_L = 128
DISKANN_ALPHA = 1.2
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200


# --------------------------------------------------------------------------------------
# Small helpers shared by driver and workers
# --------------------------------------------------------------------------------------


def log(msg):
    """Progress goes to stderr so stdout holds only the Markdown report."""
    print(msg, file=sys.stderr, flush=True)


def read_vecs(path, dtype):
    """Read an .fvecs/.ivecs file (each row: int32 dim, then dim values) into an (n, d) array."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.zeros((0, 0), dtype=dtype)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def vecs_shape(path):
    """(rows, dims) of an .fvecs/.ivecs file from its size and first header, without reading it."""
    with open(path, "rb") as f:
        d = int(np.frombuffer(f.read(4), dtype=np.int32)[0])
    return os.path.getsize(path) // (4 * (d + 1)), d


def peak_rss_mib():
    """Peak resident set size of this process so far, in MiB: VmHWM from /proc/self/status.

    Not getrusage().ru_maxrss: Linux carries the parent's high-water mark across fork/vfork +
    exec into the child's ru_maxrss, so a worker started by a driver that once held 400 MiB
    would report at least 400 MiB. VmHWM belongs to the process's own address space, which
    exec replaces. (ru_maxrss is the fallback where /proc is missing.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dir_bytes(path):
    """Total size of the regular files under a directory (or of a single file)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def recall_at_k(found, truth, k=K):
    """Mean fraction of each query's true top-k ids present in its returned top-k ids."""
    found = np.asarray(found, dtype=np.int64)[:, :k]
    truth = np.asarray(truth, dtype=np.int64)[:, :k]
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)


MAX_REPEATS = 25


def enough_runs(spec, times):
    """Stop timing a setting after `repeats` runs once they add up to `min_seconds` (or 25 runs).

    A 103-query batch takes about a millisecond, the scale of one scheduler tick: with a single
    run, one preemption would decide the QPS. Repeating short batches until they have run for
    a while, and keeping the fastest, makes small sets comparable; long batches stop at
    `repeats`.
    """
    return len(times) >= MAX_REPEATS or (
        len(times) >= max(1, spec["repeats"]) and sum(times) >= spec["min_seconds"])


def best_of(spec, fn):
    """Time fn() until enough_runs(); return (fastest wall seconds, last result)."""
    times, result = [], None
    while not enough_runs(spec, times):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def pq_bytes_like_lmdiskann(d):
    """Bytes per vector of lmdiskann's default neighbour codes (f32 vectors): 4 bits/dim up
    to 184 dims, 2 below 384, else 1 (the planner's one-page rule, see the README).

    DiskANN's disk index keeps PQ codes of every vector in RAM; giving them the same bits per
    vector as lmdiskann's codes makes the two compressed representations the same size.
    """
    bits = 4 if d <= 184 else 2 if d < 384 else 1
    return (d * bits + 7) // 8


# --------------------------------------------------------------------------------------
# Workers: one process per (system, phase)
# --------------------------------------------------------------------------------------


def load_queries_and_truth(spec, limit=None):
    """Queries and the first K ground-truth ids, optionally only the first `limit` queries."""
    q = read_vecs(spec["queries_fvecs"], np.float32)
    gt = np.load(spec["gt_npy"])[:, :K]
    if limit is not None:
        q, gt = q[:limit], gt[:limit]
    return np.ascontiguousarray(q), gt


def fresh_dir(path):
    """An empty directory: a rebuild must not pick up files from an earlier run.

    (DiskANN, for one, silently reuses an existing PQ pivot file.)
    """
    p = Path(path)
    if p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True)
    return p


def sweep_result(param, recall, seconds, nq, **extra):
    """One point of a recall/QPS sweep."""
    row = {"param": param, "recall": recall, "seconds": seconds, "qps": nq / seconds if seconds else None}
    row.update(extra)
    return row


# lmdiskann -----------------------------------------------------------------------------


def run_binary(args, cgroup=None):
    """Run the lmdiskann binary (in `cgroup` from its start, if given); raise with its last
    stderr line if it fails."""
    enter = (lambda: Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))) if cgroup else None
    proc = subprocess.run([str(BINARY)] + args, capture_output=True, text=True, preexec_fn=enter)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr or proc.stdout).splitlines() if l.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit code {proc.returncode}")
    return proc


def build_lmdiskann(spec):
    """`lmdiskann build` as a child process; time is its wall time, RSS its own VmHWM.

    RSS comes from the binary's report (its own VmHWM), not from getrusage(RUSAGE_CHILDREN),
    which would include this Python worker's high-water mark (see peak_rss_mib).
    """
    out = Path(spec["index_dir"])
    fresh_dir(out)
    index = out / "index.lmd"
    report = out / "build.json"
    t0 = time.perf_counter()
    run_binary(["build", "--input", spec["base_fvecs"], "--output", str(index),
                "--threads", str(spec["threads"]), "--report", str(report)])
    seconds = time.perf_counter() - t0
    rep = json.loads(report.read_text())
    return {"seconds": seconds, "bytes": index.stat().st_size,
            "rss_mib": rep["peak_rss_bytes"] / 2**20, "extra": {"report": rep}}


def read_hits_parquet(path, nq):
    """(nq, K) rowids from lmdiskann's hits Parquet (`query, rank, rowid, distance`), -1 if missing."""
    import duckdb

    con = duckdb.connect()
    cols = con.execute(
        "SELECT query, rank, rowid FROM read_parquet(?) WHERE rank <= ? ORDER BY query, rank",
        [str(path), K]).fetchnumpy()
    ids = np.full((nq, K), -1, dtype=np.int64)
    ids[np.asarray(cols["query"], dtype=np.int64), np.asarray(cols["rank"], dtype=np.int64) - 1] = cols["rowid"]
    return ids


def lmdiskann_runs(spec, L, cgroup=None):
    """`lmdiskann search` at L until enough runs, one process each; cold when `cgroup` is
    given (the index's pages dropped first, only the search process in the cgroup: this
    worker's Python, and the DuckDB it reads the hits with, stay out of the budget).
    Returns the hits file and every run's report."""
    out = Path(spec["index_dir"])
    index = out / "index.lmd"
    tag = "cold-" if cgroup else ""
    hits, report = out / f"{tag}hits-L{L}.parquet", out / f"{tag}search-L{L}.json"
    reports, times = [], []
    # Cold, the cache share is read in first (the front of the file: the blocks searches read
    # most), as DiskANN loads its node cache when it opens the index.
    warm_up = ["--cache-memory", str(spec["cache_bytes"])] if cgroup else []
    while not enough_runs(spec, times):
        if cgroup:
            drop_cached([index])
        run_binary(["search", "--index", str(index), "--query", spec["queries_fvecs"], "-k", str(K),
                    "-L", str(L), "--threads", str(spec["threads"]), "--output", str(hits),
                    "--report", str(report)] + warm_up + spec["lmdiskann_search_args"], cgroup=cgroup)
        reports.append(json.loads(report.read_text()))
        times.append(reports[-1]["seconds"])
    return hits, reports


def search_lmdiskann(spec):
    """`lmdiskann search` processes per L (the best report QPS counts); recall from the hits file.

    Peak RSS is the largest VmHWM any of those processes reported (see build_lmdiskann).
    """
    q, gt = load_queries_and_truth(spec)
    nq = len(q)
    sweep, rss = [], 0.0
    for L in spec["sweep"]:
        hits, reports = lmdiskann_runs(spec, L)
        rss = max([rss] + [r["peak_rss_bytes"] / 2**20 for r in reports])
        best = max(reports, key=lambda r: r["qps"])
        recall = recall_at_k(read_hits_parquet(hits, nq), gt)
        sweep.append({"param": L, "recall": recall, "qps": best["qps"], "seconds": best.get("seconds"),
                      "blocks_per_query": best.get("blocks_read_per_query"),
                      "report_peak_rss_mib": best.get("peak_rss_bytes", 0) / 2**20,
                      "report_anon_rss_mib": best.get("anon_rss_bytes", 0) / 2**20})
    return {"sweep": sweep, "rss_mib": rss, "queries": nq}


# diskannpy -----------------------------------------------------------------------------


def diskann_build_common(spec, kind):
    """Build a DiskANN memory or disk index from the shared .bin file into a fresh directory.

    Building from a file path (not a numpy array) keeps diskannpy from copying the raw vectors
    into the index directory, and keeps the worker's RSS free of a Python copy of the data.
    """
    import diskannpy

    out = fresh_dir(spec["index_dir"])
    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    extra = {}
    if kind == "mem":
        diskannpy.build_memory_index(
            spec["base_bin"], distance_metric="l2", index_directory=str(out),
            complexity=DISKANN_L, graph_degree=DISKANN_R, num_threads=spec["threads"],
            alpha=DISKANN_ALPHA, vector_dtype=np.float32)
    else:
        pq = pq_bytes_like_lmdiskann(spec["d"])
        # diskann takes floor(budget / n) bytes of PQ code per vector; half a byte of slack
        # survives its float conversion. Budgets this small (< 0.2 GiB for 1M vectors) are
        # not reduced by its cache allowance.
        search_gb = (pq + 0.5) * spec["n"] / 2**30
        diskannpy.build_disk_index(
            spec["base_bin"], distance_metric="l2", index_directory=str(out),
            complexity=DISKANN_L, graph_degree=DISKANN_R,
            search_memory_maximum=search_gb, build_memory_maximum=spec["diskann_build_gb"],
            num_threads=spec["threads"], vector_dtype=np.float32)
        # The builder leaves the intermediate in-memory index's copy of the raw vectors
        # behind; the disk index (which stores full vectors itself) never reads it.
        leftover = out / "ann_mem.index.data"
        if leftover.exists():
            extra["deleted_leftover_bytes"] = leftover.stat().st_size
            leftover.unlink()
        extra.update({"pq_bytes_target": pq, "search_memory_maximum_gb": search_gb,
                      "build_memory_maximum_gb": spec["diskann_build_gb"]})
    seconds = time.perf_counter() - t0
    extra["files"] = {f.name: f.stat().st_size for f in sorted(out.iterdir())}
    return {"seconds": seconds, "bytes": dir_bytes(out), "rss_mib": peak_rss_mib(),
            "import_rss_mib": rss0, "extra": extra}


def build_diskann_mem(spec):
    return diskann_build_common(spec, "mem")


def build_diskann_disk(spec):
    return diskann_build_common(spec, "disk")


def search_diskann_mem(spec):
    """StaticMemoryIndex.batch_search over the whole query set for each complexity."""
    import diskannpy

    rss0 = peak_rss_mib()
    q, gt = load_queries_and_truth(spec)
    T = spec["threads"]
    index = diskannpy.StaticMemoryIndex(spec["index_dir"], num_threads=T,
                                        initial_search_complexity=max(spec["sweep"]))
    sweep = []
    for L in spec["sweep"]:
        secs, res = best_of(spec, lambda: index.batch_search(q, K, L, T))
        sweep.append(sweep_result(L, recall_at_k(res.identifiers, gt), secs, len(q)))
    return {"sweep": sweep, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0, "queries": len(q)}


def search_diskann_disk(spec):
    """StaticDiskIndex.batch_search (fixed beam width) over the whole query set per complexity."""
    import diskannpy

    rss0 = peak_rss_mib()
    q, gt = load_queries_and_truth(spec)
    T, W = spec["threads"], spec["diskann_beam_width"]
    index = diskannpy.StaticDiskIndex(spec["index_dir"], num_threads=T,
                                      num_nodes_to_cache=spec["diskann_cache_nodes"])
    sweep = []
    for L in spec["sweep"]:
        secs, res = best_of(spec, lambda: index.batch_search(q, K, L, T, beam_width=W))
        sweep.append(sweep_result(L, recall_at_k(res.identifiers, gt), secs, len(q)))
    return {"sweep": sweep, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0, "queries": len(q),
            "extra": {"beam_width": W, "num_nodes_to_cache": spec["diskann_cache_nodes"]}}


# Cold cache ----------------------------------------------------------------------------

CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
COLD_SYSTEMS = ["lmdiskann", "diskann-disk"]
COLD_SLACK = 4 * 2**20  # on top of the cache share and the search process's own memory
LMDISKANN_OWN = 16 * 2**20  # the search process's own memory, beside the page cache
PAGE = 4096


def disk_read_bytes():
    """Bytes this process has had read from storage (read_bytes of /proc/self/io)."""
    with open("/proc/self/io") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("read_bytes:"))


def drop_cached(paths):
    """Drop every page of `paths` from the page cache (clean pages; the indexes are not written)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def index_files(spec):
    return [str(f) for f in sorted(Path(spec["index_dir"]).iterdir()) if f.is_file()]


def make_cgroup(name, limit_bytes):
    """A memory cgroup limited to `limit_bytes` (page cache counted), or raise saying why not."""
    path = CGROUP_MEMORY / name
    try:
        path.mkdir(exist_ok=True)
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
    except OSError as e:
        raise RuntimeError(f"cannot make memory cgroup {path} ({e.strerror}): cold runs need root and "
                           f"cgroup v1's memory controller at {CGROUP_MEMORY}") from e
    return path


def remove_cgroup(path):
    """Empty and remove a cgroup made by make_cgroup (its worker has exited)."""
    try:
        (path / "memory.force_empty").write_text("0")
    except OSError:
        pass
    # The worker's last task may still be leaving the cgroup for a moment after it exits.
    for attempt in range(50):
        try:
            path.rmdir()
            return
        except OSError as e:
            if attempt == 49:
                log(f"could not remove {path}: {e.strerror}")
            time.sleep(0.1)


def join_cgroup(spec):
    """Move this worker (and every process it starts from now on) into the run's cgroup."""
    Path(spec["cgroup"], "cgroup.procs").write_text(str(os.getpid()))


def cold_point(L, recall, seconds, nq, read_bytes, unit, latencies_ms=None, **extra):
    """A sweep point of a cold run: QPS, recall, reads (of `unit` bytes: one node) and KiB read
    per query, latency percentiles."""
    row = sweep_result(L, recall, seconds, nq, reads_per_query=read_bytes / unit / nq,
                       kib_per_query=read_bytes / 1024 / nq, **extra)
    if latencies_ms is not None and len(latencies_ms):
        row["p50_ms"], row["p99_ms"] = (float(np.percentile(latencies_ms, p)) for p in (50, 99))
    return row


def cold_lmdiskann(spec):
    """`lmdiskann search` per L inside the cgroup, its index dropped from the cache before each run."""
    q, gt = load_queries_and_truth(spec)
    nq = len(q)
    unit = max(PAGE, spec["block_size"])
    sweep = []
    for L in spec["sweep"]:
        hits, reports = lmdiskann_runs(spec, L, cgroup=spec["cgroup"])
        best = max(reports, key=lambda r: r["qps"])
        recall = recall_at_k(read_hits_parquet(hits, nq), gt)
        lat = best["latency_ms"]
        sweep.append(cold_point(L, recall, best["seconds"], nq, best["disk_read_bytes"], unit,
                                p50_ms=lat["p50"], p99_ms=lat["p99"],
                                blocks_per_query=best["blocks_read_per_query"],
                                anon_rss_mib=best["anon_rss_bytes"] / 2**20,
                                cache_load_s=best["warm_up_seconds"]))
    return {"sweep": sweep, "queries": nq}


def cold_diskann_disk(spec):
    """StaticDiskIndex inside the cgroup with a node cache of the cache fraction of its nodes.

    One thread: a `search` call per query, so each query's latency is known. More: one
    `batch_search` (no per-query latency).
    """
    import diskannpy

    q, gt = load_queries_and_truth(spec)
    nq, T, W = len(q), spec["threads"], spec["diskann_beam_width"]
    files = index_files(spec)
    # A node (full vector, degree, R neighbours) is read as whole 4 KiB sectors.
    unit = -(-(4 * spec["d"] + 4 + 4 * DISKANN_R) // PAGE) * PAGE
    join_cgroup(spec)
    cache_nodes = int(spec["cache_fraction"] * spec["n"])
    # With one thread context, diskannpy 0.7 waits forever for a free one while it loads a node
    # cache at open; a second context is only scratch memory.
    t0 = time.perf_counter()
    index = diskannpy.StaticDiskIndex(spec["index_dir"], num_threads=max(2, T), num_nodes_to_cache=cache_nodes)
    cache_load_s = time.perf_counter() - t0
    sweep = []
    for L in spec["sweep"]:
        best = None
        times = []
        while not enough_runs(spec, times):
            drop_cached(files)
            r0 = disk_read_bytes()
            if T == 1:
                ids, lat = np.empty((nq, K), dtype=np.int64), np.empty(nq)
                t0 = time.perf_counter()
                for i in range(nq):
                    t = time.perf_counter()
                    ids[i] = index.search(q[i], K, L, W).identifiers
                    lat[i] = (time.perf_counter() - t) * 1e3
                secs = time.perf_counter() - t0
            else:
                t0 = time.perf_counter()
                ids, lat = index.batch_search(q, K, L, T, beam_width=W).identifiers, None
                secs = time.perf_counter() - t0
            times.append(secs)
            point = cold_point(L, recall_at_k(ids, gt), secs, nq, disk_read_bytes() - r0, unit, lat,
                               cache_load_s=cache_load_s)
            if best is None or point["qps"] > best["qps"]:
                best = point
        sweep.append(best)
    return {"sweep": sweep, "queries": nq, "extra": {"beam_width": W, "num_nodes_to_cache": cache_nodes}}


COLD_TASKS = {"lmdiskann": cold_lmdiskann, "diskann-disk": cold_diskann_disk}


# hnswlib -------------------------------------------------------------------------------


def build_hnswlib(spec, m=HNSW_M):
    """hnswlib M=m, ef_construction=200; build time includes save_index (the index on disk)."""
    import hnswlib

    rss0 = peak_rss_mib()
    base = read_vecs(spec["base_fvecs"], np.float32)
    out = fresh_dir(spec["index_dir"])
    path = out / "hnswlib.bin"
    t0 = time.perf_counter()
    index = hnswlib.Index(space="l2", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=m, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=100)
    index.set_num_threads(spec["threads"])
    index.add_items(base, np.arange(len(base)), num_threads=spec["threads"])
    index.save_index(str(path))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "bytes": path.stat().st_size, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0}


def search_hnswlib(spec):
    """load_index, then knn_query over the whole query set for each ef."""
    import hnswlib

    rss0 = peak_rss_mib()
    q, gt = load_queries_and_truth(spec)
    T = spec["threads"]
    index = hnswlib.Index(space="l2", dim=q.shape[1])
    index.load_index(str(Path(spec["index_dir"]) / "hnswlib.bin"))
    index.set_num_threads(T)
    sweep = []
    for ef in spec["sweep"]:
        index.set_ef(ef)
        secs, res = best_of(spec, lambda: index.knn_query(q, k=K, num_threads=T))
        sweep.append(sweep_result(ef, recall_at_k(res[0], gt), secs, len(q)))
    return {"sweep": sweep, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0, "queries": len(q)}


# faiss ---------------------------------------------------------------------------------


def build_faiss_hnsw(spec):
    """faiss IndexHNSWFlat(d, 32), efConstruction=200; build time includes write_index."""
    import faiss

    faiss.omp_set_num_threads(spec["threads"])
    rss0 = peak_rss_mib()
    base = read_vecs(spec["base_fvecs"], np.float32)
    out = fresh_dir(spec["index_dir"])
    path = out / "faiss-hnsw.index"
    t0 = time.perf_counter()
    index = faiss.IndexHNSWFlat(base.shape[1], HNSW_M)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(base)
    faiss.write_index(index, str(path))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "bytes": path.stat().st_size, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0}


def search_faiss_hnsw(spec):
    """read_index, then a batch search over the whole query set for each efSearch."""
    import faiss

    faiss.omp_set_num_threads(spec["threads"])
    rss0 = peak_rss_mib()
    q, gt = load_queries_and_truth(spec)
    index = faiss.read_index(str(Path(spec["index_dir"]) / "faiss-hnsw.index"))
    sweep = []
    for ef in spec["sweep"]:
        index.hnsw.efSearch = ef
        secs, res = best_of(spec, lambda: index.search(q, K))
        sweep.append(sweep_result(ef, recall_at_k(res[1], gt), secs, len(q)))
    return {"sweep": sweep, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0, "queries": len(q)}


def groundtruth_faiss(spec):
    """Exact top-100 by L2 with faiss IndexFlatL2 (time includes add); saves ids and distances."""
    import faiss

    faiss.omp_set_num_threads(spec["threads"])
    base = read_vecs(spec["base_fvecs"], np.float32)
    q = read_vecs(spec["queries_fvecs"], np.float32)
    t0 = time.perf_counter()
    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    dist, ids = index.search(q, GT_K)
    seconds = time.perf_counter() - t0
    np.save(spec["gt_npy"], ids.astype(np.int32))
    np.save(spec["gt_dist_npy"], dist)
    # A tie between the 10th and 11th neighbour would make "the" top-10 ambiguous.
    ties = int(np.sum(dist[:, K - 1] == dist[:, K])) if GT_K > K else 0
    return {"seconds": seconds, "rss_mib": peak_rss_mib(), "ties_at_k": ties}


# DuckDB --------------------------------------------------------------------------------


def build_duckdb_exact(spec):
    """A DuckDB file with items(rowid BIGINT, emb FLOAT[d]) loaded from the set's Parquet."""
    import duckdb

    rss0 = peak_rss_mib()
    out = fresh_dir(spec["index_dir"])
    db = out / "items.duckdb"
    d = int(spec["d"])
    parquet = spec["base_parquet"].replace("'", "''")
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"SET threads = {int(spec['threads'])}")
    con.execute(f"CREATE TABLE items AS SELECT CAST(rowid AS BIGINT) AS rowid, CAST(emb AS FLOAT[{d}]) AS emb "
                f"FROM read_parquet('{parquet}')")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM items").fetchone()[0]
    con.close()
    seconds = time.perf_counter() - t0
    if rows != spec["n"]:
        raise RuntimeError(f"{spec['base_parquet']} has {rows} rows, the fvecs {spec['n']}")
    return {"seconds": seconds, "bytes": dir_bytes(out), "rss_mib": peak_rss_mib(), "import_rss_mib": rss0}


def search_duckdb_exact(spec):
    """One prepared `ORDER BY array_distance(...) LIMIT 10` per query for the first N queries."""
    import duckdb

    rss0 = peak_rss_mib()
    q, gt = load_queries_and_truth(spec, limit=spec["duckdb_queries"])
    d = q.shape[1]
    con = duckdb.connect(str(Path(spec["index_dir"]) / "items.duckdb"), read_only=True)
    con.execute(f"SET threads = {int(spec['threads'])}")
    sql = f"SELECT rowid FROM items ORDER BY array_distance(emb, ?::FLOAT[{d}]) LIMIT {K}"

    def run_all():
        ids = np.full((len(q), K), -1, dtype=np.int64)
        for i, vec in enumerate(q):
            rows = con.execute(sql, [vec.tolist()]).fetchall()
            ids[i, :len(rows)] = [r[0] for r in rows]
        return ids

    secs, ids = best_of(spec, run_all)
    sweep = [sweep_result("exact", recall_at_k(ids, gt), secs, len(q))]
    return {"sweep": sweep, "rss_mib": peak_rss_mib(), "import_rss_mib": rss0, "queries": len(q)}


# system table: name -> (build, search, sweep parameter label)
SYSTEMS = {
    "lmdiskann": (build_lmdiskann, search_lmdiskann, "L"),
    "diskann-mem": (build_diskann_mem, search_diskann_mem, "L"),
    "diskann-disk": (build_diskann_disk, search_diskann_disk, "L"),
    "hnswlib": (build_hnswlib, search_hnswlib, "ef"),
    "hnswlib-m16": (lambda spec: build_hnswlib(spec, m=16), search_hnswlib, "ef"),
    "faiss-hnsw": (build_faiss_hnsw, search_faiss_hnsw, "ef"),
    "duckdb-exact": (build_duckdb_exact, search_duckdb_exact, ""),
}
TASKS = {"groundtruth-faiss": groundtruth_faiss}
for _name, (_b, _s, _) in SYSTEMS.items():
    TASKS[f"{_name}:build"] = _b
    TASKS[f"{_name}:search"] = _s
for _name, _c in COLD_TASKS.items():
    TASKS[f"{_name}:cold"] = _c


def worker_main(spec_path):
    """Entry point of a worker process: run one task, write its JSON result (or error)."""
    global BINARY
    spec = json.loads(Path(spec_path).read_text())
    BINARY = Path(spec["binary"])
    try:
        result = TASKS[spec["task"]](spec)
        code = 0
    except Exception as e:  # reported as the row's one-line failure reason
        msg = " ".join(str(e).split()) or type(e).__name__
        result = {"error": f"{type(e).__name__}: {msg}"[:300]}
        code = 1
    Path(spec["result"]).write_text(json.dumps(result, indent=1))
    return code


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def run_worker(task, spec, run_dir, timeout):
    """Run one task in a fresh Python process; return (result dict, wall seconds).

    The worker's stdout/stderr (DiskANN is chatty) go to a log file next to its result. A
    crash without a result becomes {"error": <last log line>}.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    stem = task.replace(":", "-")
    spec = dict(spec, task=task, result=str(run_dir / f"{stem}.result.json"))
    spec_path = run_dir / f"{stem}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    Path(spec["result"]).unlink(missing_ok=True)
    log_path = run_dir / f"{stem}.log"
    env = thread_env(spec["threads"])
    t0 = time.perf_counter()
    with open(log_path, "w") as logf:
        # Own process group, so a timeout or Ctrl-C also ends the worker's children
        # (the lmdiskann binary), not just the worker.
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "worker", str(spec_path)],
                                stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return {"error": f"timed out after {timeout:g} s; log: {log_path}"}, time.perf_counter() - t0
        except BaseException:
            kill_group(proc)
            raise
    wall = time.perf_counter() - t0
    if Path(spec["result"]).exists():
        return json.loads(Path(spec["result"]).read_text()), wall
    lines = [l for l in log_path.read_text(errors="replace").splitlines() if l.strip()]
    how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
    last = f", last output: {lines[-1][:200]}" if lines else ""
    return {"error": f"worker {how}{last}; log: {log_path}"}, wall


def kill_group(proc):
    """SIGKILL the process group of a worker we started, and reap the worker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def thread_env(threads):
    """Environment pinning every OpenMP/BLAS/rayon pool to the same thread count."""
    env = dict(os.environ)
    for var in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"]:
        env[var] = str(threads)
    return env


def parse_synthetic(name):
    """(rows, dims) of a synthetic set's name, else None: `synthetic100k` -> (100000, 128),
    `synthetic1m` -> (1000000, 128), `synthetic25kx384` -> (25000, 384)."""
    m = re.fullmatch(r"synthetic(\d+)([km]?)(?:x(\d+))?", name.lower())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1000, "m": 1000000}[m.group(2)], int(m.group(3) or SYNTH_DIMS)


def prepare_real(name, data_dirs, work):
    """A real set's files in the first --data folder holding it, or None (with the missing file)."""
    dirs = [Path(d) / name for d in data_dirs]
    src = next((d for d in dirs if d.is_dir()), dirs[0] if dirs else None)
    files = {key: (src / f"{name}_{suffix}") if src else None for key, suffix in
             [("base_fvecs", "base.fvecs"), ("queries_fvecs", "query.fvecs"),
              ("shipped_gt", "groundtruth.ivecs"), ("base_parquet", "base.parquet")]}
    missing = [str(p) for p in files.values() if p is None or not p.exists()]
    if missing:
        return None, missing[0] if src else "no --data directory"
    ds = {"name": name, "kind": "real", "dir": str(work / "data" / name)}
    ds.update({k: str(v) for k, v in files.items()})
    return ds, None


def prepare_synthetic(name, shape, nq, work):
    """Generate (once; cached in --work) seeded base/queries as fvecs plus the base as Parquet.

    The Parquet (for DuckDB) is a second `generate` run with the same seed and no queries; a
    few rows are compared with the fvecs to prove both runs wrote the same vectors.
    """
    n, dims = shape
    d = work / "data" / name
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / "generated.json"
    want = {"n": n, "dims": dims, "queries": nq, "seed": SYNTH_SEED}
    ds = {"name": name, "kind": "synthetic", "dir": str(d), "base_fvecs": str(d / "base.fvecs"),
          "queries_fvecs": str(d / f"queries{nq}.fvecs"), "base_parquet": str(d / "base.parquet"),
          "shipped_gt": None}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("want") == want and all(Path(ds[k]).exists() for k in ["base_fvecs", "queries_fvecs", "base_parquet"]):
        ds["generate_seconds"] = meta.get("seconds")
        ds["generate_cached"] = True
        return ds
    log(f"[{name}] generating {n} x {dims} (+{nq} queries, seed {SYNTH_SEED}) with lmdiskann generate")
    common = ["generate", "--n", str(n), "--dims", str(dims), "--seed", str(SYNTH_SEED)]
    t0 = time.perf_counter()
    run_binary(common + ["--queries", str(nq), "--output", ds["base_fvecs"], "--query-output", ds["queries_fvecs"]])
    run_binary(common + ["--queries", "0", "--output", ds["base_parquet"]])
    seconds = time.perf_counter() - t0
    check_parquet_matches_fvecs(ds, n)
    meta_path.write_text(json.dumps({"want": want, "seconds": seconds}))
    ds["generate_seconds"] = seconds
    ds["generate_cached"] = False
    return ds


def check_parquet_matches_fvecs(ds, n):
    """Compare the first, middle and last rows of the Parquet and fvecs copies of a base set."""
    import duckdb

    rows = sorted({0, n // 2, n - 1})
    got = duckdb.connect().execute(
        "SELECT rowid, emb FROM read_parquet(?) WHERE rowid IN (SELECT unnest(?)) ORDER BY rowid",
        [ds["base_parquet"], rows]).fetchall()
    base = np.memmap(ds["base_fvecs"], dtype=np.float32, mode="r")
    dims = int(base[:1].view(np.int32)[0])
    for rowid, emb in got:
        start = rowid * (dims + 1) + 1
        if not np.array_equal(np.asarray(emb, dtype=np.float32), base[start:start + dims]):
            raise RuntimeError(f"{ds['base_parquet']} row {rowid} differs from {ds['base_fvecs']}")
    if [r[0] for r in got] != rows:
        raise RuntimeError(f"{ds['base_parquet']} lacks some of rowids {rows}")


def write_diskann_bin(ds):
    """Convert base.fvecs to DiskANN's .bin (int32 n, int32 d, then row-major float32), once.

    Streams in chunks so the driver never holds the whole set.
    """
    n, d = vecs_shape(ds["base_fvecs"])
    path = Path(ds["dir"]) / "base.diskann.bin"
    if path.exists() and path.stat().st_size == 8 + 4 * n * d:
        return str(path)
    tmp = path.with_suffix(".tmp")
    rows = np.memmap(ds["base_fvecs"], dtype=np.float32, mode="r").reshape(n, d + 1)
    with open(tmp, "wb") as f:
        np.array([n, d], dtype=np.int32).tofile(f)
        for start in range(0, n, 65536):
            np.ascontiguousarray(rows[start:start + 65536, 1:]).tofile(f)
    tmp.rename(path)
    return str(path)


def groundtruth(ds, args, work):
    """Exact top-100 per set: faiss IndexFlatL2 (the truth for recall) and `lmdiskann groundtruth`.

    Both are cached in the set's data folder, keyed by set shape and thread count, with the
    time they took; a failed lmdiskann run is not cached, so it is retried next time.
    """
    d = Path(ds["dir"])
    d.mkdir(parents=True, exist_ok=True)
    n, dims = vecs_shape(ds["base_fvecs"])
    nq, _ = vecs_shape(ds["queries_fvecs"])
    key = {"n": n, "d": dims, "nq": nq, "k": GT_K, "threads": args.threads,
           "base": ds["base_fvecs"], "queries": ds["queries_fvecs"]}
    ds.update({"n": n, "d": dims, "nq": nq, "gt_npy": str(d / "gt_faiss.npy"),
               "gt_dist_npy": str(d / "gt_faiss_dist.npy")})
    info = {}

    meta_path = d / "gt_faiss.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("key") == key and Path(ds["gt_npy"]).exists():
        info["faiss"] = dict(meta["result"], cached=True)
    else:
        log(f"[{ds['name']}] exact ground truth with faiss IndexFlatL2 ({n} x {nq})")
        res, _ = run_worker("groundtruth-faiss", {**ds, "threads": args.threads, "binary": str(BINARY)},
                            d / "gt-run", args.timeout)
        if "error" in res:
            raise RuntimeError(f"faiss ground truth failed: {res['error']}")
        meta_path.write_text(json.dumps({"key": key, "result": res}))
        info["faiss"] = dict(res, cached=False)
    truth = np.load(ds["gt_npy"])

    lm_ivecs, lm_meta_path = d / "gt_lmdiskann.ivecs", d / "gt_lmdiskann.json"
    lm_meta = json.loads(lm_meta_path.read_text()) if lm_meta_path.exists() else {}
    if lm_meta.get("key") == key and lm_ivecs.exists():
        info["lmdiskann"] = dict(lm_meta["result"], cached=True)
    else:
        log(f"[{ds['name']}] exact ground truth with lmdiskann groundtruth")
        lm_ivecs.unlink(missing_ok=True)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([str(BINARY), "groundtruth", "--input", ds["base_fvecs"], "--query",
                                   ds["queries_fvecs"], "-k", str(GT_K), "--output", str(lm_ivecs),
                                   "--threads", str(args.threads)], capture_output=True, text=True,
                                  timeout=args.timeout or None, env=thread_env(args.threads))
            seconds = time.perf_counter() - t0
            if proc.returncode != 0 or not lm_ivecs.exists():
                lines = [l for l in (proc.stderr or proc.stdout).splitlines() if l.strip()]
                info["lmdiskann"] = {"error": (lines[0] if lines else f"exit code {proc.returncode}")[:160]}
            else:
                info["lmdiskann"] = {"seconds": seconds}
                lm_meta_path.write_text(json.dumps({"key": key, "result": info["lmdiskann"]}))
                info["lmdiskann"] = dict(info["lmdiskann"], cached=False)
        except subprocess.TimeoutExpired:
            info["lmdiskann"] = {"error": f"timed out after {args.timeout} s"}
    if "error" not in info["lmdiskann"]:
        info["lmdiskann"]["top10_agree"] = top10_agreement(read_vecs(lm_ivecs, np.int32), truth)
    if ds.get("shipped_gt"):
        info["shipped_top10_agree"] = top10_agreement(read_vecs(ds["shipped_gt"], np.int32), truth)
    return info


def top10_agreement(ids, truth):
    """Fraction of queries whose top-10 id sets are equal (order within the 10 ignored)."""
    if ids.shape[0] != truth.shape[0] or ids.shape[1] < K:
        return 0.0
    a, b = np.sort(ids[:, :K], axis=1), np.sort(truth[:, :K], axis=1)
    return float(np.mean(np.all(a == b, axis=1)))


def run_phase(row, ds, system, phase, spec, run_dir, timeout):
    """Runs one phase's worker and records its result (and any error) in `row`."""
    result, wall = run_worker(f"{system}:{phase}", spec, run_dir, timeout)
    row[phase], row[f"{phase}_wall"] = result, wall
    if "error" in result:
        row["error"] = f"{phase} {result['error']}"
        log(f"[{ds['name']}] {system}: {phase} failed: {result['error']}")
    return result, wall


def run_system(system, ds, args, work):
    """Build then search one system on one set, each in its own worker; never raises."""
    run_dir = work / "runs" / ds["name"] / system
    index_dir = run_dir / "index"
    spec = {
        "binary": str(BINARY), "threads": args.threads, "repeats": args.repeats,
        "min_seconds": args.min_seconds, "sweep": SWEEP, "k": K,
        "index_dir": str(index_dir), "base_fvecs": ds["base_fvecs"], "queries_fvecs": ds["queries_fvecs"],
        "base_parquet": ds["base_parquet"], "base_bin": ds.get("base_bin"), "gt_npy": ds["gt_npy"],
        "n": ds["n"], "d": ds["d"], "duckdb_queries": args.duckdb_queries,
        "diskann_build_gb": args.diskann_build_gb, "diskann_beam_width": args.diskann_beam_width,
        "diskann_cache_nodes": args.diskann_cache_nodes, "lmdiskann_search_args": args.lmdiskann_search_args,
    }
    row = {"system": system}
    log(f"[{ds['name']}] {system}: build")
    build, _ = run_phase(row, ds, system, "build", spec, run_dir, args.timeout)
    if "error" in build:
        return row
    if system == "diskann-disk":
        build["pq_bytes_actual"] = diskann_pq_bytes(run_dir / "diskann-disk-build.log")
    log(f"[{ds['name']}] {system}: build {build['seconds']:.1f} s; search sweep")
    search, wall = run_phase(row, ds, system, "search", spec, run_dir, args.timeout)
    if "error" not in search:
        log(f"[{ds['name']}] {system}: search sweep done in {wall:.1f} s")
        if system in COLD_SYSTEMS and args.cache:
            row["cold"] = run_cold(system, ds, args, spec, build, search, run_dir)
    if not args.keep_indexes:
        shutil.rmtree(index_dir, ignore_errors=True)
    return row


def run_cold(system, ds, args, spec, build, search, run_dir):
    """The cold runs of one disk index: one worker per (cache fraction, thread count), each in
    a fresh memory cgroup of that fraction of the index's bytes plus the process's own memory."""
    if system == "lmdiskann":
        # Its anonymous memory (5-9 MiB with 64 queries in flight per thread, their search
        # state capped at 4 MiB a thread; the bound is 32), and the query file it
        # reads through the page cache.
        own = LMDISKANN_OWN + Path(ds["queries_fvecs"]).stat().st_size
    else:
        # Everything the worker grew by after importing (the queries too, which it loads
        # before it joins the cgroup: generous to DiskANN).
        own = (search.get("rss_mib", 0) - search.get("import_rss_mib", 0)) * 2**20
    headroom = int(own) + COLD_SLACK
    runs = []
    for pct in args.cache:
        for threads in args.cold_threads:
            budget = int(build["bytes"] * pct / 100)
            cold = {"cache_pct": pct, "threads": threads, "cache_bytes": budget, "limit_bytes": budget + headroom}
            name = f"lmdiskann-bench-{os.getpid()}-{system}-{pct}-{threads}"
            log(f"[{ds['name']}] {system}: cold, cache {pct}% ({fmt_bytes(budget)}), {threads} thread(s)")
            try:
                cgroup = make_cgroup(name, cold["limit_bytes"])
            except RuntimeError as e:
                runs.append(dict(cold, error=str(e)))
                continue
            try:
                cold_spec = dict(spec, threads=threads, cgroup=str(cgroup), cache_fraction=pct / 100, cache_bytes=budget,
                                 block_size=build.get("extra", {}).get("report", {}).get("block_size", PAGE))
                result, _ = run_worker(f"{system}:cold", cold_spec, run_dir / f"cold-{pct}-{threads}", args.timeout)
            finally:
                remove_cgroup(cgroup)
            runs.append(dict(cold, **result))
    return runs


def diskann_pq_bytes(log_path):
    """PQ bytes per vector build_disk_index settled on, from its log ("... into 32 bytes per
    vector."): it derives them from search_memory_maximum and prints the result nowhere else."""
    m = re.search(r"into (\d+) bytes per vector", log_path.read_text(errors="replace"))
    return int(m.group(1)) if m else "?"


# Reporting -----------------------------------------------------------------------------


def fmt_bytes(b):
    for unit, size in [("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)]:
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b} B"


def fmt_point(p, label):
    setting = f"{label}={p['param']}" if label else str(p["param"])
    return f"{p['recall']:.3f} @ {p['qps']:,.0f} ({setting})"


def matched(sweep, target):
    """The sweep point with the highest QPS among those reaching `target` recall, or None."""
    ok = [p for p in sweep if p["recall"] >= target and p.get("qps")]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def summary_table(ds, rows):
    """The per-set Markdown table: one row per system, matched-recall columns at the end."""
    head = ["system", "build s", "bytes on disk", "bytes/vector", "build RSS MiB", "search RSS MiB"]
    head += [f"recall@10 / QPS @ ≥{t:.2f}" for t in TARGETS]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in rows:
        label = SYSTEMS[row["system"]][2]
        b = row.get("build", {})
        if "error" in b:
            out.append(f"| {row['system']} | failed: {one_line(row['error'])} |" + " |" * (len(head) - 2))
            continue
        cells = [row["system"], f"{b['seconds']:.2f}", fmt_bytes(b["bytes"]), f"{b['bytes'] / ds['n']:.0f}",
                 fmt_rss(b)]
        s = row.get("search", {})
        if "error" in s:
            cells.append(f"failed: {one_line(row['error'])}")
            cells += [""] * len(TARGETS)
        else:
            cells.append(fmt_rss(s))
            for t in TARGETS:
                p = matched(s["sweep"], t)
                cells.append(fmt_point(p, label) if p else "—")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def build_table(ds, rows):
    """Build speed side by side: seconds, vectors/s, peak RSS, and recall@10 at L / ef = DEFAULT_SEARCH."""
    head = ["system", "build s", "vectors/s", "build peak RSS MiB", f"recall@10 at L/ef {DEFAULT_SEARCH}"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in rows:
        b, s = row.get("build", {}), row.get("search", {})
        if "error" in b or row["system"] == "duckdb-exact":
            continue
        p = next((p for p in s.get("sweep", []) if p["param"] == DEFAULT_SEARCH), None)
        cells = [row["system"], f"{b['seconds']:.2f}", f"{ds['n'] / b['seconds']:,.0f}", fmt_rss(b),
                 f"{p['recall']:.4f}" if p else "—"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def fmt_rss(phase):
    """Peak RSS in MiB; for Python peers also the part that is the interpreter + library import."""
    if "import_rss_mib" in phase:
        return f"{phase['rss_mib']:.0f} (py {phase['import_rss_mib']:.0f})"
    return f"{phase['rss_mib']:.0f}"


def one_line(msg):
    return " ".join(str(msg).split()).replace("|", "/")[:160]


def sweep_table(rows):
    """Every sweep point: rows = L/ef value, columns = systems, cells = recall / QPS."""
    graph = [r for r in rows if "search" in r and "error" not in r["search"] and r["system"] != "duckdb-exact"]
    if not graph:
        return ""
    head = ["L / ef"] + [r["system"] for r in graph]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---:"] * len(head)) + "|"]
    for value in SWEEP:
        cells = [str(value)]
        for r in graph:
            p = next((p for p in r["search"]["sweep"] if p["param"] == value), None)
            cells.append(f"{p['recall']:.3f} / {p['qps']:,.0f}" if p else "")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def gt_table(ds, info):
    """The "exact ground truth, k=100" comparison for one set."""
    f, lm = info["faiss"], info["lmdiskann"]
    cached = " (cached)" if f.get("cached") else ""
    lm_s = f"n/a ({one_line(lm['error'])})" if "error" in lm else \
        f"{lm['seconds']:.2f}{' (cached)' if lm.get('cached') else ''}"
    agree = "n/a" if "error" in lm else f"{lm['top10_agree']:.3f}"
    lines = [f"exact ground truth, k={GT_K}, {ds['nq']} queries:", "",
             "| faiss IndexFlatL2 s | lmdiskann groundtruth s | top-10 sets equal (lmdiskann vs faiss) |",
             "|---:|---:|---:|", f"| {f['seconds']:.2f}{cached} | {lm_s} | {agree} |"]
    notes = []
    if "shipped_top10_agree" in info:
        notes.append(f"faiss top-10 vs the shipped {Path(ds['shipped_gt']).name}: "
                     f"{info['shipped_top10_agree']:.3f} of rows equal")
    if f.get("ties_at_k"):
        notes.append(f"{f['ties_at_k']} queries have a distance tie between the 10th and 11th neighbour")
    if notes:
        lines += ["", "; ".join(notes) + "."]
    return "\n".join(lines)


def set_notes(ds, rows):
    """Footnotes: what each row's numbers include, settings chosen, wall time per phase."""
    notes = []
    for r in rows:
        b, s = r.get("build", {}), r.get("search", {})
        sysname = r["system"]
        if sysname == "lmdiskann" and "extra" in b:
            rep = b["extra"]["report"]
            notes.append(f"lmdiskann: R {rep.get('max_degree')}, block {rep.get('block_size')} B, "
                         f"build report {rep.get('build_seconds', 0):.2f} s + read {rep.get('read_seconds', 0):.2f} s, "
                         f"report peak RSS {rep.get('peak_rss_bytes', 0) / 2**20:.0f} MiB")
            if "sweep" in s:
                anon = max(p.get("report_anon_rss_mib") or 0 for p in s["sweep"])
                bq = next((p["blocks_per_query"] for p in s["sweep"] if p["param"] == 64), None)
                notes.append(f"lmdiskann search: anon RSS ≤ {anon:.0f} MiB (the rest of its RSS is mapped index pages)"
                             + (f", {bq:.1f} blocks/query at L=64" if bq else ""))
        if sysname == "diskann-disk" and "extra" in b:
            e = b["extra"]
            pq = b.get("pq_bytes_actual", "?")
            notes.append(f"diskann-disk: PQ {pq} B/vector in RAM (target {e['pq_bytes_target']}: lmdiskann's code size), "
                         f"search_memory_maximum {e['search_memory_maximum_gb']:.4f} GB, build_memory_maximum "
                         f"{e['build_memory_maximum_gb']:g} GB, beam width {s.get('extra', {}).get('beam_width', '?')}, "
                         f"{s.get('extra', {}).get('num_nodes_to_cache', '?')} cached nodes; "
                         f"deleted the builder's leftover raw-vector copy ann_mem.index.data "
                         f"({fmt_bytes(e.get('deleted_leftover_bytes', 0))}) before measuring bytes")
        if sysname == "duckdb-exact" and "queries" in s:
            notes.append(f"duckdb-exact: QPS and recall over the first {s['queries']} queries")
    walls = ", ".join(f"{r['system']} {r.get('build_wall', 0):.1f} + {r.get('search_wall', 0):.1f}" for r in rows)
    notes.append(f"wall seconds per phase (build + whole search sweep incl. repeats, process start-up): {walls}")
    return "\n".join(f"- {n}" for n in notes)


def cold_table(rows):
    """Cold runs: one row per (system, cache fraction, threads), the matched-recall points."""
    runs = [(r["system"], c) for r in rows for c in r.get("cold", [])]
    if not runs:
        return ""
    head = ["system", "cache", "threads", "cgroup MiB"] + [f"recall / QPS @ ≥{t:.2f}" for t in TARGETS]
    head += ["reads/query @ ≥0.95", "KiB read/query @ ≥0.95", "p50 / p99 ms @ ≥0.95", "cache load s"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for system, c in runs:
        cells = [system, f"{c['cache_pct']:g}% ({fmt_bytes(c['cache_bytes'])})", str(c["threads"]),
                 f"{c['limit_bytes'] / 2**20:.0f}"]
        if "error" in c:
            out.append("| " + " | ".join(cells) + f" | failed: {one_line(c['error'])} |" + " |" * (len(TARGETS) + 3))
            continue
        for t in TARGETS:
            p = matched(c["sweep"], t)
            cells.append(fmt_point(p, SYSTEMS[system][2]) if p else "—")
        p = matched(c["sweep"], 0.95)
        cells.append(f"{p['reads_per_query']:.1f}" if p else "—")
        cells.append(f"{p['kib_per_query']:.0f}" if p else "—")
        cells.append(f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}" if p and "p50_ms" in p else "—")
        cells.append(f"{p['cache_load_s']:.2f}" if p and p.get("cache_load_s") is not None else "—")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def print_set(ds, gt_info, rows):
    label = f"{ds['name']}: {ds['n']:,} x {ds['d']}, {ds['nq']} queries ({ds['kind']})"
    if ds["kind"] == "synthetic":
        how = "cached" if ds["generate_cached"] else "took"
        label += f", lmdiskann generate --seed {SYNTH_SEED} ({how} {ds['generate_seconds']:.1f} s)"
    print(f"\n## {label}\n")
    print(gt_table(ds, gt_info))
    print()
    print(summary_table(ds, rows))
    print()
    print(f"Build, {ds['n']:,} vectors:\n")
    print(build_table(ds, rows))
    print()
    print("RSS columns: peak of that phase's own process; \"py N\" = the Python worker's RSS right after "
          "importing the library, before any data (included in the total).\n")
    print(set_notes(ds, rows))
    cold = cold_table(rows)
    if cold:
        print("\nCold: the index's pages dropped before each run, the search process in a memory cgroup of "
              "the cache share of its index's bytes plus its own memory (DiskANN: a node cache of that share "
              "of its nodes, loaded when it opens the index; it reads with O_DIRECT; lmdiskann: --cache-memory of "
              "that share, the front of its file read into the page cache before the first query). QPS counts "
              "the searches only; \"cache load s\" is the time either took to load its cache. Reads = bytes read from storage over one node read (a block of at least 4 KiB; DiskANN's node in 4 KiB sectors).\n")
        print(cold)
    sweep = sweep_table(rows)
    if sweep:
        print(f"\nFull sweep, recall@10 / QPS (lmdiskann, diskann-*: L / complexity; hnswlib, faiss-hnsw: ef):\n")
        print(sweep)
    sys.stdout.flush()


def load_average():
    """The 1-minute load average, or "unknown"."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def versions():
    out = {}
    for pkg in PEER_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        out["lmdiskann"] = subprocess.run([str(BINARY), "--version"], capture_output=True,
                                          text=True).stdout.strip().removeprefix("lmdiskann ")
        rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        if rev:
            out["lmdiskann"] += f" (git {rev})"
    except OSError as e:
        out["lmdiskann"] = f"unavailable: {e}"
    return out


def print_header(args, vers, found, missing):
    print("# lmdiskann vs peers\n")
    print(f"- threads: {args.threads} for every system (lmdiskann --threads, diskannpy num_threads, hnswlib "
          f"set_num_threads, faiss omp_set_num_threads, DuckDB SET threads; OMP/BLAS/rayon env pinned too)")
    mem = mem_total_gib()
    print(f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores"
          + (f", {mem:.1f} GiB RAM" if mem else "") + f"; Python {platform.python_version()}")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"- real data: {', '.join(args.data) or 'none'}; found: {', '.join(found) or 'none'}"
          + (f"; not found: {', '.join(missing)}" if missing else ""))
    print(f"- QPS = queries / wall seconds of one batch search over the whole query set; the fastest of at least "
          f"{args.repeats} runs, repeated until they add up to {args.min_seconds:g} s (at most {MAX_REPEATS}); "
          f"lmdiskann: its report's qps, one process per run; recall@10 vs exact faiss top-100")
    print(f"- load average at start: {load_average()} (anything well above 0 means other processes shared "
          f"the {os.cpu_count()} cores and the timings are noisy)")
    print(f"- build: M/R, ef_construction/L: lmdiskann defaults (L 128, alpha 1.2, R from the planner); DiskANN R "
          f"{DISKANN_R}, L {DISKANN_L}, alpha {DISKANN_ALPHA} (build_disk_index takes no alpha: DiskANN's own "
          f"default); hnswlib and faiss M {HNSW_M} (hnswlib-m16: M 16), efConstruction {HNSW_EF_CONSTRUCTION}")
    print("- build s: wall time from data to index persisted on disk (lmdiskann: the whole `build` process; "
          "peers: the build call + save, data already loaded)")
    print("- caveat: diskann-disk reads its graph with O_DIRECT (every hop is a real disk read); lmdiskann "
          "reads through mmap, so after the build its blocks are in the page cache")
    sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = REPO.parent / "shared" / "data"
    p.add_argument("--threads", type=int, default=2, help="threads for every system (default 2)")
    p.add_argument("--data", default=str(default_data) if default_data.is_dir() else None,
                   help="folders with the real sets, a comma list (default ../shared/data next to the repo, if "
                        "present); text384 is made by datasets/text384.py")
    p.add_argument("--sets", default=DEFAULT_SETS,
                   help=f"comma list (default {DEFAULT_SETS}); syntheticN / syntheticNk / syntheticNm for any size, "
                        f"with xD for D dimensions (default {SYNTH_DIMS}), e.g. synthetic25kx384")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma list (default all)")
    p.add_argument("--queries", type=int, default=1000, help="queries generated for synthetic sets (default 1000)")
    p.add_argument("--duckdb-queries", type=int, default=100,
                   help="queries DuckDB's exact scan answers (default 100; it is slow)")
    p.add_argument("--work", default=str(REPO / "target" / "bench-peers"),
                   help="scratch folder: generated data, ground truth, indexes (default target/bench-peers)")
    p.add_argument("--json", help="also write every raw result here")
    p.add_argument("--repeats", type=int, default=2,
                   help="timed runs per search setting, at least; the fastest counts (default 2)")
    p.add_argument("--min-seconds", type=float, default=0.5,
                   help=f"keep repeating a setting until its runs add up to this (max {MAX_REPEATS} runs; default 0.5)")
    p.add_argument("--diskann-beam-width", type=int, default=4, help="StaticDiskIndex beam width (default 4)")
    p.add_argument("--diskann-cache-nodes", type=int, default=0,
                   help="StaticDiskIndex num_nodes_to_cache (default 0: no node cache, like lmdiskann)")
    mem = mem_total_gib()
    p.add_argument("--diskann-build-gb", type=float, default=max(1.0, round((mem or 8) / 2)),
                   help="build_disk_index build_memory_maximum in GB (default half the RAM, so it builds in one shard)")
    p.add_argument("--cache", default="",
                   help="cold runs of the disk indexes with this percent of each index in memory, a comma "
                        "list, e.g. 25,10 (default: none; needs root and cgroup v1)")
    p.add_argument("--cold-threads", default="1,2", help="thread counts of the cold runs (default 1,2)")
    p.add_argument("--lmdiskann-search-args", default="",
                   help="extra arguments for every `lmdiskann search`, e.g. \"--beam-width 4\"")
    p.add_argument("--timeout", type=float, default=0, help="seconds before a worker is killed (default: none)")
    p.add_argument("--keep-indexes", action="store_true", help="keep each system's index after searching it")
    args = p.parse_args(argv)
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.data = [d for d in (args.data or "").split(",") if d]
    try:
        args.cache = [float(c) for c in args.cache.split(",") if c.strip()]
        args.cold_threads = [int(t) for t in args.cold_threads.split(",") if t.strip()]
    except ValueError:
        p.error("--cache and --cold-threads take comma lists of numbers")
    if any(not 0 < c <= 100 for c in args.cache) or any(t < 1 for t in args.cold_threads):
        p.error("--cache percentages must be in (0, 100] and --cold-threads at least 1")
    args.lmdiskann_search_args = args.lmdiskann_search_args.split()
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown:
        p.error(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    bad = [s for s in args.sets if s not in REAL_SETS and parse_synthetic(s) is None]
    if bad:
        p.error(f"unknown sets {bad}; known: {', '.join(REAL_SETS)}, synthetic<N>[k|m]")
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def pin_binary(work):
    """Copy the release binary into --work and use the copy from now on.

    A `cargo build` running elsewhere in the tree during a long benchmark must not swap the
    binary between the build and the search of the same index.
    """
    global BINARY
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: run `cargo build --release` (scripts/bench-peers.sh does)")
    pinned = work / "bin" / "lmdiskann"
    pinned.parent.mkdir(parents=True, exist_ok=True)
    tmp = pinned.with_suffix(".tmp")
    shutil.copy2(BINARY, tmp)
    tmp.rename(pinned)
    BINARY = pinned


def main(argv):
    args = parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    pin_binary(work)

    real = {name: prepare_real(name, args.data, work) for name in args.sets if name in REAL_SETS}
    found = [name for name, (ds, _) in real.items() if ds]
    missing = [f"{name} ({why})" for name, (ds, why) in real.items() if not ds]
    vers = versions()
    print_header(args, vers, found, missing)

    results = {"threads": args.threads, "cpu": cpu_model(), "versions": vers, "sets": []}
    t_all = time.perf_counter()
    for name in args.sets:
        t_set = time.perf_counter()
        if name in REAL_SETS:
            ds = real[name][0]
            if ds is None:
                continue
        else:
            try:
                ds = prepare_synthetic(name, parse_synthetic(name), args.queries, work)
            except Exception as e:
                print(f"\n## {name}\n\nfailed to generate: {one_line(e)}")
                continue
        try:
            gt_info = groundtruth(ds, args, work)
        except Exception as e:
            print(f"\n## {ds['name']}\n\nno ground truth: {one_line(e)}")
            continue
        if any(s.startswith("diskann") for s in args.systems):
            ds["base_bin"] = write_diskann_bin(ds)
        rows = [run_system(system, ds, args, work) for system in args.systems]
        print_set(ds, gt_info, rows)
        print(f"\n({ds['name']} took {time.perf_counter() - t_set:.0f} s; load average now {load_average()})")
        log(f"[{ds['name']}] done in {time.perf_counter() - t_set:.0f} s")
        results["sets"].append({"dataset": ds, "groundtruth": gt_info, "systems": rows,
                                "seconds": time.perf_counter() - t_set})
        if args.json:  # after every set, so a long run that dies later keeps what it measured
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nTotal wall time {time.perf_counter() - t_all:.0f} s.")
    if args.json:
        print(f"Raw results: {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "worker":
        sys.exit(worker_main(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
