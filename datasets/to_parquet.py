#!/usr/bin/env python3
"""Convert the standard ANN benchmark formats to the Parquet layout DuckDB exports.

    python datasets/to_parquet.py sift_base.fvecs sift_base.parquet
    python datasets/to_parquet.py glove-100-angular.hdf5 glove_base.parquet --hdf5-dataset train
    python datasets/to_parquet.py glove-100-angular.hdf5 glove_gt.ivecs --hdf5-dataset neighbors

Vectors are written as `rowid BIGINT, emb FLOAT[]` (a Parquet list of float, what DuckDB's
COPY writes for FLOAT[N]) with rowid = row position, so rowids, DuckDB's file_row_number and
the ids in the sets' ground truth files all agree. Ground truth (ivecs, ibin or an HDF5
`neighbors` dataset) is written as .ivecs, which lmdiskann reads directly.

Inputs: .fvecs (float32), .bvecs (uint8), .ivecs (int32), .fbin / .u8bin / .i8bin / .ibin
(big-ann-benchmarks: u32 rows, u32 dims, then the values), .hdf5 (ann-benchmarks; needs
h5py). Files are memory-mapped and converted in slices, so a base larger than RAM is fine.

Needs numpy and pyarrow (pip install numpy pyarrow; h5py for .hdf5).
"""

import argparse
import sys

import numpy as np

ROWS_PER_GROUP = 100_000


def open_vecs(path, dtype):
    """fvecs/bvecs/ivecs: every record is an int32 dim then dim values."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    dims = int(raw[:4].view(np.int32)[0])
    record = 4 + dims * np.dtype(dtype).itemsize
    if dims <= 0 or raw.size % record:
        sys.exit(f"{path}: not a {dtype.__name__} vecs file (dim {dims}, size {raw.size})")
    rows = raw.reshape(-1, record)
    if np.any(rows[:, :4].view(np.int32) != dims):
        sys.exit(f"{path}: records have different dims; every vector must have {dims}")
    return rows[:, 4:].view(dtype)


def open_bin(path, dtype):
    """big-ann-benchmarks .fbin/.u8bin/.i8bin/.ibin: u32 rows, u32 dims, row-major values."""
    header = np.fromfile(path, dtype=np.uint32, count=2)
    rows, dims = int(header[0]), int(header[1])
    return np.memmap(path, dtype=dtype, mode="r", offset=8, shape=(rows, dims))


def open_hdf5(path, dataset):
    import h5py  # only this format needs it

    return h5py.File(path, "r")[dataset]


def open_input(path, hdf5_dataset):
    suffix = path.rsplit(".", 1)[-1].lower()
    vecs = {"fvecs": np.float32, "bvecs": np.uint8, "ivecs": np.int32}
    bins = {"fbin": np.float32, "u8bin": np.uint8, "i8bin": np.int8, "ibin": np.int32}
    if suffix in vecs:
        return open_vecs(path, vecs[suffix])
    if suffix in bins:
        return open_bin(path, bins[suffix])
    if suffix in ("hdf5", "h5"):
        return open_hdf5(path, hdf5_dataset)
    sys.exit(f"{path}: unknown format .{suffix}; expected fvecs, bvecs, ivecs, fbin, u8bin, i8bin, ibin or hdf5")


def write_parquet(data, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, dims = data.shape
    schema = pa.schema([("rowid", pa.int64()), ("emb", pa.list_(pa.float32()))])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, rows, ROWS_PER_GROUP):
            block = np.asarray(data[start : start + ROWS_PER_GROUP], dtype=np.float32)
            offsets = pa.array(np.arange(0, block.size + 1, dims, dtype=np.int32))
            emb = pa.ListArray.from_arrays(offsets, pa.array(block.ravel()))
            rowid = pa.array(np.arange(start, start + len(block), dtype=np.int64))
            writer.write_table(pa.table({"rowid": rowid, "emb": emb}, schema=schema))


def write_ivecs(data, path):
    with open(path, "wb") as out:
        for start in range(0, data.shape[0], ROWS_PER_GROUP):
            block = np.asarray(data[start : start + ROWS_PER_GROUP], dtype=np.int32)
            counts = np.full((len(block), 1), block.shape[1], dtype=np.int32)
            out.write(np.hstack([counts, block]).tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output", help=".parquet for vectors, .ivecs for ground truth")
    parser.add_argument("--hdf5-dataset", default="train", help="train, test or neighbors (default train)")
    parser.add_argument("--limit", type=int, help="only the first N rows (e.g. a 1M slice of Deep1B)")
    args = parser.parse_args()
    data = open_input(args.input, args.hdf5_dataset)
    if args.limit is not None:
        data = data[: args.limit]
    if args.output.endswith(".ivecs"):
        write_ivecs(data, args.output)
    elif args.output.endswith(".parquet"):
        write_parquet(data, args.output)
    else:
        sys.exit(f"{args.output}: write .parquet (vectors) or .ivecs (ground truth)")
    print(f"wrote {args.output}: {data.shape[0]} x {data.shape[1]}", file=sys.stderr)


if __name__ == "__main__":
    main()
