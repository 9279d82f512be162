//! Ground truth files: for each query, its true nearest rowids in rank order.
//!
//! `.ivecs` (the SIFT/GIST convention: one record per query, an i32 count then that many
//! i32 ids) or Parquet with the hit columns `query, rank, rowid[, distance]`, which is what
//! `lmdiskann groundtruth` and `search --output` write.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::input::{find_column, io_error, one_line, InputError};
use super::output::OutputError;

/// Write one ivecs record per query. Rowids must fit ivecs' i32 (Parquet has no such limit).
pub fn write_ivecs<W: Write>(mut out: W, rows: &[Vec<u64>]) -> Result<(), OutputError> {
    let mut record = Vec::new();
    for row in rows {
        record.clear();
        let len = i32::try_from(row.len()).map_err(|_| OutputError::OutOfRange {
            what: "neighbour count",
            value: row.len() as u64,
            target: "ivecs int32",
        })?;
        record.extend_from_slice(&len.to_le_bytes());
        for &rowid in row {
            let id = i32::try_from(rowid).map_err(|_| OutputError::OutOfRange {
                what: "rowid (write .parquet instead)",
                value: rowid,
                target: "ivecs int32",
            })?;
            record.extend_from_slice(&id.to_le_bytes());
        }
        out.write_all(&record)?;
    }
    out.flush()?;
    Ok(())
}

/// Read ground truth as rows of rowids, one per query in query order, nearest first.
pub fn read_groundtruth(path: &Path) -> Result<Vec<Vec<u64>>, InputError> {
    let mut magic = [0u8; 4];
    let is_parquet = File::open(path).and_then(|mut f| f.read(&mut magic)).map_err(|e| io_error(path, e))? == 4 && magic == *b"PAR1";
    let rows = if is_parquet {
        read_parquet(path)?
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ivecs")) {
        read_ivecs(path)?
    } else {
        return Err(bad(path, "neither .ivecs nor Parquet"));
    };
    if rows.is_empty() {
        return Err(bad(path, "no queries"));
    }
    Ok(rows)
}

fn bad(path: &Path, message: impl Into<String>) -> InputError {
    InputError::BadGroundTruth { path: path.to_path_buf(), message: message.into() }
}

fn read_ivecs(path: &Path) -> Result<Vec<Vec<u64>>, InputError> {
    let mut bytes = Vec::new();
    BufReader::new(File::open(path).map_err(|e| io_error(path, e))?).read_to_end(&mut bytes).map_err(|e| io_error(path, e))?;
    let mut rows = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let query = rows.len();
        let int = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let count = match rest.get(..4).map(int) {
            Some(n) if n >= 0 => n as usize,
            Some(n) => return Err(bad(path, format!("query {query} (counting from 0) has a negative count {n}"))),
            None => return Err(bad(path, format!("truncated count at query {query} (counting from 0)"))),
        };
        let Some(ids) = rest.get(4..4 + 4 * count) else {
            return Err(bad(path, format!("query {query} (counting from 0) needs {count} ids but the file ends first")));
        };
        let row = ids
            .chunks_exact(4)
            .map(|b| u64::try_from(int(b)).map_err(|_| bad(path, format!("negative rowid {} at query {query} (counting from 0)", int(b)))))
            .collect::<Result<Vec<u64>, _>>()?;
        rows.push(row);
        rest = &rest[4 + 4 * count..];
    }
    Ok(rows)
}

fn read_parquet(path: &Path) -> Result<Vec<Vec<u64>>, InputError> {
    let open_err = |e: parquet::errors::ParquetError| InputError::ParquetOpen { path: path.to_path_buf(), message: one_line(e) };
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(open_err)?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    // Names match ignoring case, as in DuckDB.
    let [query_at, rank_at, rowid_at] = ["query", "rank", "rowid"].map(|name| {
        find_column(path, &names, name, None)?.ok_or_else(|| bad(path, format!("no column {name:?}; expected query, rank, rowid")))
    });
    let (query_at, rank_at, rowid_at) = (query_at?, rank_at?, rowid_at?);
    let reader = builder.build().map_err(open_err)?;
    // (query, rank, rowid) triples, sorted below: the file may come in any order.
    let mut triples: Vec<(u64, i64, u64)> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, one_line(e)))?;
        let column = |at: usize| -> Result<Vec<Option<i64>>, InputError> {
            let col = cast(batch.column(at), &DataType::Int64).map_err(|e| bad(path, format!("column {}: {}", names[at], one_line(e))))?;
            Ok(col.as_primitive::<Int64Type>().iter().collect())
        };
        let (queries, ranks, rowids) = (column(query_at)?, column(rank_at)?, column(rowid_at)?);
        for ((q, r), id) in queries.into_iter().zip(ranks).zip(rowids) {
            let nonneg = |v: Option<i64>, what: &str| {
                v.and_then(|v| u64::try_from(v).ok()).ok_or_else(|| bad(path, format!("{what} {v:?} is NULL or negative")))
            };
            triples.push((nonneg(q, "query")?, r.unwrap_or(i64::MAX), nonneg(id, "rowid")?));
        }
    }
    triples.sort_unstable();
    let queries = triples.last().map_or(0, |t| t.0 as usize + 1);
    let mut rows = vec![Vec::new(); queries];
    for (q, _, rowid) in triples {
        rows[q as usize].push(rowid);
    }
    if let Some(q) = rows.iter().position(Vec::is_empty) {
        return Err(bad(path, format!("query {q} has no rows (queries must be numbered from 0 without gaps)")));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{write_hits, Hit, OutputFormat};

    #[test]
    fn ivecs_round_trip_and_range_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.ivecs");
        let rows = vec![vec![3, 1, 2], vec![7, 8, 9]];
        let mut bytes = Vec::new();
        write_ivecs(&mut bytes, &rows).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_groundtruth(&path).unwrap(), rows);
        let err = write_ivecs(Vec::new(), &[vec![1 << 31]]).unwrap_err().to_string();
        assert!(err.contains("parquet"), "{err}");
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        let err = read_groundtruth(&path).unwrap_err().to_string();
        assert!(err.contains("query 1 (counting from 0) needs 3 ids"), "{err}");
    }

    #[test]
    fn parquet_hits_in_any_order_group_by_query_and_rank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.parquet");
        let hit = |query, rank, rowid| Hit { query, rank, rowid, distance: rank as f32 };
        let hits = [hit(1, 2, 50), hit(0, 1, 10), hit(1, 1, 40), hit(0, 2, 20)];
        write_hits(File::create(&path).unwrap(), OutputFormat::Parquet, &hits).unwrap();
        assert_eq!(read_groundtruth(&path).unwrap(), vec![vec![10, 20], vec![40, 50]]);
        let gap = [hit(0, 1, 10), hit(2, 1, 30)];
        write_hits(File::create(&path).unwrap(), OutputFormat::Parquet, &gap).unwrap();
        let err = read_groundtruth(&path).unwrap_err().to_string();
        assert!(err.contains("query 1 has no rows"), "{err}");
    }

    #[test]
    fn parquet_column_names_match_ignoring_case() {
        use arrow::array::{ArrayRef, Int64Array};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.parquet");
        let col = |v: Vec<i64>| std::sync::Arc::new(Int64Array::from(v)) as ArrayRef;
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("QUERY", col(vec![0, 0])),
            ("Rank", col(vec![2, 1])),
            ("ROWID", col(vec![9, 4])),
        ])
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        assert_eq!(read_groundtruth(&path).unwrap(), vec![vec![4, 9]]);
    }

    #[test]
    fn other_files_are_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.csv");
        std::fs::write(&path, "query,rank,rowid\n").unwrap();
        let err = read_groundtruth(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()) && err.contains("ivecs") && !err.contains('\n'), "{err}");
    }
}
