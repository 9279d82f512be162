//! Lists of rowids (e.g. rows to delete): one integer column of a Parquet or CSV/TSV
//! file, or a plain `.txt` file with one rowid per line.
//!
//! Only reads and validates; duplicates and empty lists are returned as they are,
//! so the caller decides what they mean.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::input::{find_column, io_error, one_line, InputError};

const ID_TYPES: &str = "Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32 or UInt64";
const DEFAULT_COLUMN: &str = "rowid";
/// Cap on trusting the footer's row count when reserving.
const MAX_RESERVE: usize = 1 << 24;

/// Reads the rowids listed in `path`: Parquet (a column named `id_column`, default
/// "rowid"; if the file has exactly one column it is used whatever its name), CSV (same
/// rule with a header row; a file whose first field is a bare integer has no header and
/// its first column is used), TSV (tab-separated, likewise), or plain text `.txt` (one
/// integer per line, blank lines and lines starting with '#' ignored). The format comes
/// from the extension (.parquet/.pq, .csv, .tsv, .txt), else from the Parquet magic.
///
/// Duplicates are kept and an empty list is not an error. A named `id_column` must
/// exist (the one-column rule applies only to the default); it is rejected for `.txt`.
pub fn read_rowids(path: &Path, id_column: Option<&str>) -> Result<Vec<u64>, InputError> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "parquet" | "pq" => read_parquet(path, id_column),
        "csv" => read_csv(path, id_column, b','),
        "tsv" => read_csv(path, id_column, b'\t'),
        "txt" => read_text(path, id_column),
        _ => {
            let mut magic = Vec::with_capacity(4);
            File::open(path).and_then(|f| f.take(4).read_to_end(&mut magic)).map_err(|e| io_error(path, e))?;
            if magic == b"PAR1" {
                read_parquet(path, id_column)
            } else {
                Err(InputError::UnknownRowidFormat { path: path.to_path_buf(), ext })
            }
        }
    }
}

/// The column holding the ids: `id_column` (exact name, else the one that matches ignoring
/// case, as DuckDB identifiers do), or by default `rowid` (likewise), else the only column.
fn pick_column(path: &Path, names: &[&str], id_column: Option<&str>, columns: impl FnOnce() -> String) -> Result<usize, InputError> {
    let name = id_column.unwrap_or(DEFAULT_COLUMN);
    match (find_column(path, names, name, Some("id-column"))?, id_column, names.len()) {
        (Some(i), _, _) => Ok(i),
        (None, None, 1) => Ok(0),
        _ => Err(InputError::MissingColumn { path: path.to_path_buf(), option: "id-column", name: name.to_string(), columns: columns() }),
    }
}

fn bad_id(path: &Path, row: u64, column: &str, value: String) -> InputError {
    InputError::BadId { path: path.to_path_buf(), row, column: column.to_string(), value }
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

fn read_parquet(path: &Path, id_column: Option<&str>) -> Result<Vec<u64>, InputError> {
    let open_err = |message: String| InputError::ParquetOpen { path: path.to_path_buf(), message };
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| open_err(one_line(e)))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let at = pick_column(path, &names, id_column, || {
        let cols: Vec<String> = schema.fields().iter().map(|f| format!("{} ({})", f.name(), f.data_type())).collect();
        if cols.is_empty() {
            "none".to_string()
        } else {
            cols.join(", ")
        }
    })?;
    let field = schema.field(at);
    // Checked up front so a wrong type is reported even when the file has no rows.
    if !field.data_type().is_integer() {
        return Err(InputError::UnsupportedType {
            path: path.to_path_buf(),
            column: field.name().clone(),
            role: "id column",
            data_type: field.data_type().to_string(),
            supported: ID_TYPES,
        });
    }
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    // Top-level Arrow fields correspond one-to-one to Parquet root columns.
    let mask = ProjectionMask::roots(builder.parquet_schema(), [at]);
    let reader = builder.with_projection(mask).build().map_err(|e| open_err(one_line(e)))?;
    let mut ids = Vec::with_capacity(rows.min(MAX_RESERVE));
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| open_err(format!("{}; rows from {row}, counting from 0", one_line(e))))?;
        let (col, column) = (batch.column(0), field.name().as_str());
        let args = (path, col, column, row);
        match col.data_type() {
            DataType::Int8 => push_ids::<Int8Type>(args, &mut ids)?,
            DataType::Int16 => push_ids::<Int16Type>(args, &mut ids)?,
            DataType::Int32 => push_ids::<Int32Type>(args, &mut ids)?,
            DataType::Int64 => push_ids::<Int64Type>(args, &mut ids)?,
            DataType::UInt8 => push_ids::<UInt8Type>(args, &mut ids)?,
            DataType::UInt16 => push_ids::<UInt16Type>(args, &mut ids)?,
            DataType::UInt32 => push_ids::<UInt32Type>(args, &mut ids)?,
            DataType::UInt64 => push_ids::<UInt64Type>(args, &mut ids)?,
            other => unreachable!("integer type {other} checked above"),
        }
        row += batch.num_rows() as u64;
    }
    Ok(ids)
}

/// Append one batch of an integer column, rejecting NULL and negative values.
fn push_ids<T>((path, col, column, row0): (&Path, &ArrayRef, &str, u64), out: &mut Vec<u64>) -> Result<(), InputError>
where
    T: ArrowPrimitiveType,
    T::Native: TryInto<u64> + std::fmt::Display,
{
    for (i, v) in col.as_primitive::<T>().iter().enumerate() {
        match v.and_then(|v| v.try_into().ok()) {
            Some(id) => out.push(id),
            None => {
                let value = v.map_or_else(|| "NULL".to_string(), |v| v.to_string());
                return Err(bad_id(path, row0 + i as u64, column, value));
            }
        }
    }
    Ok(())
}

/// An optionally signed run of digits: a first line like this is data, not a header.
fn is_bare_integer(field: &[u8]) -> bool {
    let text = field.trim_ascii();
    let digits = text.strip_prefix(b"-").or_else(|| text.strip_prefix(b"+")).unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn read_csv(path: &Path, id_column: Option<&str>, delimiter: u8) -> Result<Vec<u64>, InputError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    // Headers are handled here, since whether there is one depends on the first line.
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).from_reader(BufReader::new(file));
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    let mut next = |record: &mut csv::ByteRecord, row: u64| {
        reader.read_byte_record(record).map_err(|e| InputError::BadCsv {
            path: path.to_path_buf(),
            row,
            message: format!("not valid CSV ({})", one_line(e)),
        })
    };
    if !next(&mut record, row)? {
        return Ok(Vec::new());
    }
    let (at, column) = if is_bare_integer(record.get(0).unwrap_or_default()) {
        (0, "1".to_string())
    } else {
        let names: Vec<String> = record.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let at = pick_column(path, &refs, id_column, || names.join(", "))?;
        if !next(&mut record, row)? {
            return Ok(Vec::new());
        }
        (at, names[at].clone())
    };
    let mut ids = Vec::new();
    loop {
        let field = record.get(at).unwrap_or_default();
        let id = std::str::from_utf8(field).ok().and_then(|t| t.trim().parse::<u64>().ok());
        match id {
            Some(id) => ids.push(id),
            None => {
                let text = String::from_utf8_lossy(field);
                let value = if text.trim().is_empty() { "NULL".to_string() } else { shorten(text.trim()) };
                return Err(bad_id(path, row, &column, value));
            }
        }
        row += 1;
        if !next(&mut record, row)? {
            return Ok(ids);
        }
    }
}

fn read_text(path: &Path, id_column: Option<&str>) -> Result<Vec<u64>, InputError> {
    if id_column.is_some() {
        return Err(InputError::OptionNotApplicable { path: path.to_path_buf(), option: "id-column", format: "text" });
    }
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut ids = Vec::new();
    // Bytes, not `lines()`, so invalid UTF-8 is reported as a bad line, not an I/O error.
    for (row, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| io_error(path, e))?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let id = text.parse::<u64>().map_err(|_| InputError::BadCsv {
            path: path.to_path_buf(),
            row: row as u64,
            message: format!(
                "invalid id {:?} on line {}: each line must hold one non-negative integer \
                 (or be blank or a # comment); fix or remove it",
                shorten(text),
                row + 1
            ),
        })?;
        ids.push(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::{assert_contains, assert_one_line};
    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, UInt64Array};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A temp dir (kept alive by the caller) and a file in it.
    fn file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    /// Parquet with nullable columns, as DuckDB writes them.
    fn parquet(name: &str, cols: Vec<(&str, ArrayRef)>) -> (tempfile::TempDir, PathBuf) {
        let (dir, path) = file(name, b"");
        let batch = RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, a)| (n, a, true))).unwrap();
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        (dir, path)
    }

    fn err(path: &Path, id_column: Option<&str>, parts: &[&str]) {
        let msg = read_rowids(path, id_column).unwrap_err().to_string();
        assert_one_line(&msg, path);
        assert_contains(&msg, parts);
    }

    fn int64(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(v))
    }

    fn names(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    #[test]
    fn parquet_duckdb_rowid_among_other_columns() {
        let (_d, path) = parquet("del.parquet", vec![("name", names(&["a", "b", "c"])), ("rowid", int64(vec![Some(5), Some(3), Some(5)]))]);
        assert_eq!(read_rowids(&path, None).unwrap(), vec![5, 3, 5]);
        assert_eq!(read_rowids(&path, Some("ROWID")).unwrap(), vec![5, 3, 5]);
    }

    #[test]
    fn parquet_single_column_any_name_and_widths() {
        let (_d, path) = parquet("ids.pq", vec![("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef)]);
        assert_eq!(read_rowids(&path, None).unwrap(), vec![1, 2]);
        // No known extension: recognised by its magic.
        let (_d, path) = parquet("ids.bin", vec![("k", Arc::new(UInt64Array::from(vec![0, u64::MAX])) as ArrayRef)]);
        assert_eq!(read_rowids(&path, None).unwrap(), vec![0, u64::MAX]);
        let (_d, path) = parquet("empty.parquet", vec![("rowid", int64(vec![]))]);
        assert_eq!(read_rowids(&path, None).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn parquet_bad_values_name_the_row() {
        // Past the first batch, so the row counts across batches.
        let mut v: Vec<Option<i64>> = (0..3000).map(Some).collect();
        v[2500] = Some(-5);
        let (_d, path) = parquet("neg.parquet", vec![("rowid", int64(v))]);
        err(&path, None, &["neg.parquet", "invalid id -5", "row 2500", "column rowid", "--id-column"]);
        let (_d, path) = parquet("null.parquet", vec![("rowid", int64(vec![Some(1), Some(2), None]))]);
        err(&path, None, &["null.parquet", "invalid id NULL", "row 2", "column rowid"]);
    }

    #[test]
    fn parquet_wrong_type_or_missing_column() {
        let (_d, path) = parquet("f.parquet", vec![("rowid", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]);
        err(&path, None, &["f.parquet", "column rowid", "Float64", "Int64"]);
        let (_d, path) = parquet("s.parquet", vec![("key", names(&["1"]))]);
        err(&path, None, &["s.parquet", "column key", "Utf8"]);
        let (_d, path) = parquet("m.parquet", vec![("a", int64(vec![Some(1)])), ("b", names(&["x"]))]);
        err(&path, None, &["m.parquet", "\"rowid\"", "--id-column", "a (Int64), b (Utf8)"]);
        err(&path, Some("pk"), &["\"pk\"", "--id-column"]);
        assert_eq!(read_rowids(&path, Some("a")).unwrap(), vec![1]);
    }

    #[test]
    fn csv_and_tsv() {
        let (_d, path) = file("d.csv", b"rowid,name\n7,\"x,y\"\n3,z\n7,w\n");
        assert_eq!(read_rowids(&path, None).unwrap(), vec![7, 3, 7]);
        let (_d, path) = file("d.csv", b"id\n4\n 5 \n");
        assert_eq!(read_rowids(&path, None).unwrap(), vec![4, 5]);
        let (_d, path) = file("d.csv", b"9,a\n8,b\n");
        assert_eq!(read_rowids(&path, None).unwrap(), vec![9, 8]);
        let (_d, path) = file("d.tsv", b"name\trowid\nx,y\t4\nz\t2\n");
        assert_eq!(read_rowids(&path, None).unwrap(), vec![4, 2]);
        let (_d, path) = file("d.csv", b"rowid,name\n");
        assert_eq!(read_rowids(&path, None).unwrap(), Vec::<u64>::new());
        let (_d, path) = file("d.csv", b"");
        assert_eq!(read_rowids(&path, None).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn csv_errors() {
        let (_d, path) = file("bad.csv", b"rowid,name\n1,a\nx1,b\n");
        err(&path, None, &["bad.csv", "invalid id x1", "row 1", "column rowid"]);
        let (_d, path) = file("neg.csv", b"1\n-2\n");
        err(&path, None, &["neg.csv", "invalid id -2", "row 1"]);
        let (_d, path) = file("null.csv", b"rowid,name\n,a\n");
        err(&path, None, &["null.csv", "invalid id NULL", "row 0"]);
        let (_d, path) = file("m.csv", b"a,b\n1,2\n");
        err(&path, None, &["m.csv", "\"rowid\"", "--id-column", "a, b"]);
        let (_d, path) = file("r.csv", b"rowid,name\n1,a\n2\n");
        err(&path, None, &["r.csv", "not valid CSV", "row 1"]);
    }

    #[test]
    fn text_lists() {
        let (_d, path) = file("d.txt", b"# rows to drop\n\n12\r\n  7 \n# 99\n12\n");
        assert_eq!(read_rowids(&path, None).unwrap(), vec![12, 7, 12]);
        let (_d, path) = file("d.txt", b"");
        assert_eq!(read_rowids(&path, None).unwrap(), Vec::<u64>::new());
        let (_d, path) = file("bad.txt", b"1\n\ngarbage\n");
        err(&path, None, &["bad.txt", "invalid id \"garbage\"", "line 3", "row 2"]);
        let (_d, path) = file("neg.txt", b"-1\n");
        err(&path, None, &["neg.txt", "\"-1\"", "row 0"]);
        err(&path, Some("rowid"), &["--id-column", "remove it"]);
    }

    #[test]
    fn unknown_format_and_missing_file() {
        let (_d, path) = file("ids.dat", b"1\n2\n");
        err(&path, None, &["ids.dat", "unrecognised rowid list format", ".txt", ".parquet"]);
        let (dir, _) = file("x", b"");
        err(&dir.path().join("nope.csv"), None, &["nope.csv", "cannot read file"]);
    }
}
