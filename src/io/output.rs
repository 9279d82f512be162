//! Search results: CSV, TSV, JSON lines or Parquet, columns
//! `query, rank, rowid, distance`.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int32Array, Int64Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// One search result: `query` is the 0-based query row, `rank` is 1-based.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub query: u64,
    pub rank: u32,
    pub rowid: u64,
    pub distance: f32,
}

impl Hit {
    /// One query's (rowid, distance) pairs, nearest first, as hits ranked from 1.
    pub fn ranked(query: usize, nearest_first: impl IntoIterator<Item = (u64, f32)>) -> impl Iterator<Item = Hit> {
        nearest_first.into_iter().zip(1..).map(move |((rowid, distance), rank)| Hit { query: query as u64, rank, rowid, distance })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Csv,
    Tsv,
    JsonLines,
    Parquet,
}

impl OutputFormat {
    /// `.csv`, `.tsv`, `.jsonl`/`.ndjson`, `.parquet`/`.pq` (case-insensitive).
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "tsv" => Some(Self::Tsv),
            "jsonl" | "ndjson" => Some(Self::JsonLines),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// `csv`, `tsv`, `jsonl`, `parquet` (plus the aliases `ndjson`, `pq`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "tsv" => Some(Self::Tsv),
            "jsonl" | "ndjson" => Some(Self::JsonLines),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// The canonical name accepted by [`OutputFormat::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::JsonLines => "jsonl",
            Self::Parquet => "parquet",
        }
    }
}

/// The key-value metadata entry lmdiskann writes into its Parquet files, so that a later
/// run can tell a file it wrote (and may replace) from a user's.
pub struct ParquetMarker {
    pub key: &'static str,
    pub hits: &'static str,
    pub vectors: &'static str,
}

pub const PARQUET_MARKER: ParquetMarker = ParquetMarker { key: "lmdiskann", hits: "hits", vectors: "vectors" };

impl ParquetMarker {
    pub fn key_value(&self, value: &str) -> KeyValue {
        KeyValue::new(self.key.into(), value.to_string())
    }
}

/// Wrapped library errors are rendered into the message rather than exposed
/// through `source()`, so chain-printing reporters don't repeat them.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write output: {0}")]
    Io(io::Error),
    #[error("cannot write Parquet: {0}")]
    Parquet(ParquetError),
    #[error("cannot build Arrow data: {0}")]
    Arrow(ArrowError),
    #[error("{what} {value} does not fit in a {target} column")]
    OutOfRange { what: &'static str, value: u64, target: &'static str },
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error("{}: {error}", .path.display())]
    File { path: PathBuf, error: Box<OutputError> },
}

impl OutputError {
    /// Attach the output file path to the message.
    pub fn at(self, path: &Path) -> Self {
        OutputError::File { path: path.to_path_buf(), error: Box::new(self) }
    }
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        OutputError::Io(e)
    }
}

impl From<ParquetError> for OutputError {
    fn from(e: ParquetError) -> Self {
        OutputError::Parquet(e)
    }
}

impl From<ArrowError> for OutputError {
    fn from(e: ArrowError) -> Self {
        OutputError::Arrow(e)
    }
}

/// Write `hits` to `out`. Text formats print floats with Rust's shortest
/// round-trip formatting (`{}` of f32).
pub fn write_hits<W: Write + Send>(out: W, format: OutputFormat, hits: &[Hit]) -> Result<(), OutputError> {
    match format {
        OutputFormat::Csv => write_delimited(out, ',', hits),
        OutputFormat::Tsv => write_delimited(out, '\t', hits),
        OutputFormat::JsonLines => write_json_lines(out, hits),
        OutputFormat::Parquet => write_parquet(out, hits),
    }
}

/// Only integers and floats are written, so no quoting is ever needed.
fn write_delimited<W: Write>(out: W, sep: char, hits: &[Hit]) -> Result<(), OutputError> {
    let mut w = BufWriter::with_capacity(1 << 16, out);
    writeln!(w, "query{sep}rank{sep}rowid{sep}distance")?;
    for h in hits {
        writeln!(w, "{}{sep}{}{sep}{}{sep}{}", h.query, h.rank, h.rowid, h.distance)?;
    }
    w.flush()?;
    Ok(())
}

fn write_json_lines<W: Write>(out: W, hits: &[Hit]) -> Result<(), OutputError> {
    let mut w = BufWriter::with_capacity(1 << 16, out);
    for h in hits {
        write!(w, "{{\"query\":{},\"rank\":{},\"rowid\":{},\"distance\":", h.query, h.rank, h.rowid)?;
        // `{}` of a finite f32 never uses exponents, so it is a valid JSON
        // number; JSON has no NaN/infinity, so those become null.
        if h.distance.is_finite() {
            writeln!(w, "{}}}", h.distance)?;
        } else {
            writeln!(w, "null}}")?;
        }
    }
    w.flush()?;
    Ok(())
}

fn write_parquet<W: Write + Send>(out: W, hits: &[Hit]) -> Result<(), OutputError> {
    // DuckDB joins on BIGINT rowids, so prefer Int64 and only fall back to
    // UInt64 when some rowid would not fit.
    let rowid_i64 = hits.iter().all(|h| h.rowid <= i64::MAX as u64);
    let rowid_type = if rowid_i64 { DataType::Int64 } else { DataType::UInt64 };
    let schema = Arc::new(Schema::new(vec![
        Field::new("query", DataType::Int64, false),
        Field::new("rank", DataType::Int32, false),
        Field::new("rowid", rowid_type, false),
        Field::new("distance", DataType::Float32, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![PARQUET_MARKER.key_value(PARQUET_MARKER.hits)]))
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::with_capacity(1 << 16, out), schema.clone(), Some(props))?;
    for chunk in hits.chunks(1 << 16) {
        let query = chunk
            .iter()
            .map(|h| i64::try_from(h.query).map_err(|_| out_of_range("query", h.query, "Int64")))
            .collect::<Result<Vec<i64>, _>>()?;
        let rank = chunk
            .iter()
            .map(|h| i32::try_from(h.rank).map_err(|_| out_of_range("rank", h.rank.into(), "Int32")))
            .collect::<Result<Vec<i32>, _>>()?;
        let rowid: ArrayRef = if rowid_i64 {
            Arc::new(Int64Array::from_iter_values(chunk.iter().map(|h| h.rowid as i64)))
        } else {
            Arc::new(UInt64Array::from_iter_values(chunk.iter().map(|h| h.rowid)))
        };
        let distance = Float32Array::from_iter_values(chunk.iter().map(|h| h.distance));
        let cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(query)), Arc::new(Int32Array::from(rank)), rowid, Arc::new(distance)];
        writer.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    writer.into_inner()?.flush()?;
    Ok(())
}

fn out_of_range(what: &'static str, value: u64, target: &'static str) -> OutputError {
    OutputError::OutOfRange { what, value, target }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float32Type, Int32Type, Int64Type, UInt64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn sample() -> Vec<Hit> {
        vec![
            Hit { query: 0, rank: 1, rowid: 42, distance: 0.123 },
            Hit { query: 0, rank: 2, rowid: 7, distance: 1.0 },
            Hit { query: 1, rank: 1, rowid: 9_000_000_000, distance: 1e-7 },
            Hit { query: 1, rank: 2, rowid: 3, distance: 0.1 + 0.2 },
        ]
    }

    fn text(format: OutputFormat, hits: &[Hit]) -> String {
        let mut out = Vec::new();
        write_hits(&mut out, format, hits).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_bytes() {
        assert_eq!(
            text(OutputFormat::Csv, &sample()),
            "query,rank,rowid,distance\n0,1,42,0.123\n0,2,7,1\n1,1,9000000000,0.0000001\n1,2,3,0.3\n"
        );
        assert_eq!(text(OutputFormat::Csv, &[]), "query,rank,rowid,distance\n");
    }

    #[test]
    fn tsv_bytes() {
        assert_eq!(text(OutputFormat::Tsv, &sample()[..2]), "query\trank\trowid\tdistance\n0\t1\t42\t0.123\n0\t2\t7\t1\n");
    }

    #[test]
    fn jsonl_bytes() {
        let mut hits = sample()[..3].to_vec();
        hits.push(Hit { query: 2, rank: 1, rowid: u64::MAX, distance: f32::NAN });
        let s = text(OutputFormat::JsonLines, &hits);
        assert_eq!(
            s,
            "{\"query\":0,\"rank\":1,\"rowid\":42,\"distance\":0.123}\n\
             {\"query\":0,\"rank\":2,\"rowid\":7,\"distance\":1}\n\
             {\"query\":1,\"rank\":1,\"rowid\":9000000000,\"distance\":0.0000001}\n\
             {\"query\":2,\"rank\":1,\"rowid\":18446744073709551615,\"distance\":null}\n"
        );
        // Every line must be valid JSON.
        for line in s.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    fn parquet_reader(bytes: &[u8]) -> ParquetRecordBatchReaderBuilder<std::fs::File> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file).unwrap()
    }

    /// Small outputs come back as a single batch.
    fn read_back(bytes: Vec<u8>) -> RecordBatch {
        let mut batches: Vec<RecordBatch> = parquet_reader(&bytes).build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        batches.pop().unwrap()
    }

    #[test]
    fn parquet_read_back_int64_rowids() {
        let hits = sample();
        let mut out = Vec::new();
        write_hits(&mut out, OutputFormat::Parquet, &hits).unwrap();
        let b = read_back(out);
        let names: Vec<&str> = b.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["query", "rank", "rowid", "distance"]);
        assert_eq!(b.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![0, 0, 1, 1]);
        assert_eq!(b.column(1).as_primitive::<Int32Type>().values().to_vec(), vec![1, 2, 1, 2]);
        assert_eq!(b.column(2).as_primitive::<Int64Type>().values().to_vec(), vec![42, 7, 9_000_000_000, 3]);
        let d: Vec<f32> = hits.iter().map(|h| h.distance).collect();
        assert_eq!(b.column(3).as_primitive::<Float32Type>().values().to_vec(), d);
    }

    #[test]
    fn parquet_uint64_rowids_when_needed() {
        let hits = vec![Hit { query: 0, rank: 1, rowid: u64::MAX, distance: 2.5 }];
        let mut out = Vec::new();
        write_hits(&mut out, OutputFormat::Parquet, &hits).unwrap();
        let b = read_back(out);
        assert_eq!(b.column(2).data_type(), &DataType::UInt64);
        assert_eq!(b.column(2).as_primitive::<UInt64Type>().value(0), u64::MAX);
    }

    #[test]
    fn parquet_empty() {
        let mut out = Vec::new();
        write_hits(&mut out, OutputFormat::Parquet, &[]).unwrap();
        let reader = parquet_reader(&out);
        assert_eq!(reader.schema().fields().len(), 4);
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }

    #[test]
    fn parquet_rank_out_of_range() {
        let hits = vec![Hit { query: 0, rank: u32::MAX, rowid: 1, distance: 0.0 }];
        let err = write_hits(Vec::new(), OutputFormat::Parquet, &hits).unwrap_err();
        assert!(err.to_string().contains("rank 4294967295"), "{err}");
    }

    #[test]
    fn format_names() {
        for (p, f) in [
            ("a.csv", Some(OutputFormat::Csv)),
            ("a.TSV", Some(OutputFormat::Tsv)),
            ("a.jsonl", Some(OutputFormat::JsonLines)),
            ("a.ndjson", Some(OutputFormat::JsonLines)),
            ("a.parquet", Some(OutputFormat::Parquet)),
            ("a.pq", Some(OutputFormat::Parquet)),
            ("a.json", None),
            ("a", None),
        ] {
            assert_eq!(OutputFormat::from_extension(Path::new(p)), f, "{p}");
        }
        for f in [OutputFormat::Csv, OutputFormat::Tsv, OutputFormat::JsonLines, OutputFormat::Parquet] {
            assert_eq!(OutputFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(OutputFormat::from_name("xlsx"), None);
    }
}
