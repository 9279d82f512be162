//! Input side: the in-memory vector set, read options, errors, and format
//! dispatch. The per-format readers live in `fvecs.rs` and `parquet_input.rs`
//! and feed a shared [`Collector`] so every format gets the same checks.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::fvecs::Vecs;

/// Largest accepted vector length. Also bounds what a corrupt `.fvecs`
/// header can make us allocate.
pub const MAX_DIMS: usize = 65_536;

/// Vectors in row-major order: `data.len() == rowids.len() * dims`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VectorSet {
    pub dims: usize,
    pub rowids: Vec<u64>,
    pub data: Vec<f32>,
    /// The element type the values had in the input (they are held as f32).
    pub source: InputType,
    /// Whether the rowids came from a column or from row positions.
    pub rowids_from: RowidSource,
}

/// Where a set's rowids came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowidSource {
    /// A rowid column: `rowid` (in any case) or the one `id_column` names.
    #[default]
    Column,
    /// The file has no rowid column: a row's rowid is `start` plus its position in the file
    /// (counting from 0). `columns` is false for formats that have no columns at all
    /// (fvecs, bvecs, npy).
    Positions { start: u64, columns: bool },
}

/// What rowids the rows of a file without a rowid column get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionRowids {
    /// The given start plus the row's position in the file (counting from 0). `From(0)`,
    /// the default, is DuckDB's `file_row_number` and the rowid of a table loaded from it.
    From(u64),
    /// None: such a file is refused with [`InputError::NoRowidColumn`], for callers whose
    /// rows would collide with rows numbered the same way before (an insert).
    Refuse,
}

impl Default for PositionRowids {
    fn default() -> Self {
        PositionRowids::From(0)
    }
}

/// Element types inputs hold (a build stores the same type unless told otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputType {
    F64,
    #[default]
    F32,
    F16,
    I8,
    U8,
}

impl InputType {
    pub fn name(self) -> &'static str {
        match self {
            InputType::F64 => "f64",
            InputType::F32 => "f32",
            InputType::F16 => "f16",
            InputType::I8 => "i8",
            InputType::U8 => "u8",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [InputType::F64, InputType::F32, InputType::F16, InputType::I8, InputType::U8].into_iter().find(|t| t.name() == name)
    }
}

impl VectorSet {
    pub fn len(&self) -> usize {
        self.rowids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rowids.is_empty()
    }

    /// The `i`-th vector. Panics if `i >= self.len()`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }
}

#[derive(Clone, Debug, Default)]
pub struct InputOptions {
    /// Parquet: the vector column. Default: the only list-typed column.
    pub vector_column: Option<String>,
    /// Parquet and CSV: the id column. Default: `rowid` if present, else the row
    /// position in the file (DuckDB's `file_row_number`). Names match ignoring case.
    pub id_column: Option<String>,
    /// The rowids of a file without an id column.
    pub positions: PositionRowids,
    /// Reject duplicate ids.
    pub unique_ids: bool,
    /// Require every vector to have exactly this many dims.
    pub expect_dims: Option<usize>,
}

/// Hint shared by NULL-vector errors and Parquet decode failures: DuckDB
/// writes broken level data for NULL fixed-size arrays (duckdb#24731), which
/// shows up either as NULLs or as a list/offset decode error.
pub(super) fn duckdb_null_hint(column: &str) -> String {
    format!(
        "DuckDB writes an unreadable file for NULL FLOAT[N] values; filter NULLs \
         (WHERE {column} IS NOT NULL) or cast to FLOAT[] before COPY"
    )
}

/// Every message is one line: `PATH: what is wrong (where): what to do`.
///
/// Wrapped library errors are rendered into the message rather than exposed
/// through `source()`, so chain-printing reporters don't repeat them.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot read file ({error}): check that it exists and is readable", .path.display())]
    Io { path: PathBuf, error: io::Error },

    #[error(
        "{}: unrecognised input format (extension {ext:?}, no Parquet magic): \
         supported formats are .fvecs, .bvecs, .npy, .csv, .tsv and .parquet/.pq",
        .path.display()
    )]
    UnknownFormat { path: PathBuf, ext: String },

    #[error(
        "{}: unrecognised rowid list format (extension {ext:?}, no Parquet magic): \
         supported formats are .parquet/.pq, .csv, .tsv and .txt (one rowid per line)",
        .path.display()
    )]
    UnknownRowidFormat { path: PathBuf, ext: String },

    #[error("{}: empty input (no vectors): the file must hold at least one vector", .path.display())]
    Empty { path: PathBuf },

    #[error("{}: option --{option} does not apply ({format} input has no columns): remove it", .path.display())]
    OptionNotApplicable { path: PathBuf, option: &'static str, format: &'static str },

    #[error("{}: invalid vector length {dims} (row {row}, counting from 0): {hint}", .path.display())]
    BadDims { path: PathBuf, row: u64, dims: i64, hint: String },

    #[error(
        "{}: file is truncated (row {row}, counting from 0): the record needs {needed} bytes but only \
         {available} remain; re-export the file",
        .path.display()
    )]
    Truncated { path: PathBuf, row: u64, needed: u64, available: u64 },

    #[error(
        "{}: inconsistent dimensions (row {row}, counting from 0): vector has {dims} dims but {} has {expected}: \
         all vectors must have the same length{}",
        .path.display(),
        .first_row.map_or_else(|| "the index".to_string(), |r| format!("row {r}")),
        if .first_row.is_none() { " as the index" } else { "" }
    )]
    MixedDims { path: PathBuf, row: u64, dims: usize, expected: usize, first_row: Option<u64> },

    #[error(
        "{}: non-finite value {value} (row {row}, element {element}, counting from 0): vectors must not \
         contain NaN or infinity; fix or filter these rows",
        .path.display()
    )]
    NonFinite { path: PathBuf, row: u64, element: usize, value: String },

    #[error(
        "{}: not usable as ground truth ({message}): write it with `lmdiskann groundtruth` \
         as .ivecs or .parquet",
        .path.display()
    )]
    BadGroundTruth { path: PathBuf, message: String },

    #[error("{}: {message} (row {row}, counting from 0)", .path.display())]
    BadCsv { path: PathBuf, row: u64, message: String },

    #[error("{}: unusable .npy file ({message})", .path.display())]
    BadNpy { path: PathBuf, message: String },

    #[error("{}: reading stopped early by its consumer", .path.display())]
    Stopped { path: PathBuf },

    #[error("{}: NULL vector (row {row}, counting from 0, column {column}): {}", .path.display(), duckdb_null_hint(.column))]
    NullVector { path: PathBuf, row: u64, column: String },

    #[error(
        "{}: NULL element (row {row}, element {element}, counting from 0, column {column}): {}",
        .path.display(),
        duckdb_null_hint(.column)
    )]
    NullElement { path: PathBuf, row: u64, column: String, element: usize },

    #[error(
        "{}: duplicate rowid {rowid} (row {row}, column {column}; first seen at row {first_row}; counting from 0): \
         ids must be unique; deduplicate the rows or choose another id column",
        .path.display()
    )]
    DuplicateId { path: PathBuf, rowid: u64, row: u64, first_row: u64, column: String },

    #[error(
        "{}: invalid id {value} (row {row}, counting from 0, column {column}): ids must be non-negative \
         integers; filter these rows or choose another --id-column",
        .path.display()
    )]
    BadId { path: PathBuf, row: u64, column: String, value: String },

    #[error(
        "{}: unsupported {role} type {data_type} (column {column}): supported types are {supported}",
        .path.display()
    )]
    UnsupportedType { path: PathBuf, column: String, role: &'static str, data_type: String, supported: &'static str },

    #[error(
        "{}: no vector column (columns: {columns}): store the vectors as a list of floats \
         (FLOAT[N], FLOAT[] or DOUBLE[]) and pass --vector-column if needed",
        .path.display()
    )]
    NoVectorColumn { path: PathBuf, columns: String },

    #[error(
        "{}: several list columns could hold the vectors (columns: {candidates}): \
         pass --vector-column to choose one",
        .path.display()
    )]
    AmbiguousVectorColumn { path: PathBuf, candidates: String },

    #[error(
        "{}: no column named {name:?} (--{option}): the file's columns are {columns}",
        .path.display()
    )]
    MissingColumn { path: PathBuf, option: &'static str, name: String, columns: String },

    #[error(
        "{}: columns {first} and {second} both match {name:?} (names match ignoring case, as in DuckDB): \
         {}",
        .path.display(),
        .option.map_or_else(|| "rename one of them".to_string(), |o| format!("pass --{o} with the exact name"))
    )]
    AmbiguousColumn { path: PathBuf, option: Option<&'static str>, name: String, first: String, second: String },

    #[error(
        "{}: no rowid column, and numbering its rows from 0 would collide with rowids already \
         in the index: {}, pass --start-rowid N to number them from N, or pass \
         --rowids-from-position to number them from 0 anyway",
        .path.display(),
        if *.columns { "export the rowid column (or name it with --id-column NAME)" } else { "write the rows as Parquet or CSV with a rowid column" }
    )]
    NoRowidColumn { path: PathBuf, columns: bool },

    #[error(
        "{}: rowid {start} + row {row} is beyond the largest rowid ({}): pass a smaller --start-rowid",
        .path.display(),
        u64::MAX
    )]
    RowidOverflow { path: PathBuf, start: u64, row: u64 },

    #[error(
        "{}: not a readable Parquet file ({message}): check that the file is complete and really Parquet",
        .path.display()
    )]
    ParquetOpen { path: PathBuf, message: String },

    #[error(
        "{}: cannot decode Parquet data ({message}; rows from {row}, counting from 0, column {column}): {}; \
         otherwise check that the file is not corrupt",
        .path.display(),
        duckdb_null_hint(.column)
    )]
    ParquetDecode { path: PathBuf, row: u64, column: String, message: String },
}

/// Library errors may span lines; keep every InputError on one line.
pub(super) fn one_line(message: impl std::fmt::Display) -> String {
    message.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The column called `name` among `names`: the exact name, else the one name that differs
/// from it only in case (DuckDB's names are case-insensitive). `None` when no name matches;
/// an error naming two of them when several match ignoring case and none exactly, which
/// says to pass `option` (the flag that names this column) with the exact name.
pub(super) fn find_column<S: AsRef<str>>(
    path: &Path,
    names: &[S],
    name: &str,
    option: Option<&'static str>,
) -> Result<Option<usize>, InputError> {
    if let Some(i) = names.iter().position(|n| n.as_ref() == name) {
        return Ok(Some(i));
    }
    let mut folded = (0..names.len()).filter(|&i| names[i].as_ref().eq_ignore_ascii_case(name));
    match (folded.next(), folded.next()) {
        (Some(first), Some(second)) => Err(InputError::AmbiguousColumn {
            path: path.to_path_buf(),
            option,
            name: name.to_string(),
            first: names[first].as_ref().to_string(),
            second: names[second].as_ref().to_string(),
        }),
        (first, _) => Ok(first),
    }
}

pub(super) fn io_error(path: &Path, error: io::Error) -> InputError {
    InputError::Io { path: path.to_path_buf(), error }
}

/// Read a vector set, choosing the reader from the extension (`.fvecs`, `.bvecs`, `.npy`,
/// `.csv`, `.tsv`, `.parquet`, `.pq`) or, for anything else, from the Parquet magic.
pub fn read_vectors(path: &Path, opts: &InputOptions) -> Result<VectorSet, InputError> {
    read_with(path, opts, None)
}

/// What a streamed read saw in all: the set's dims, its number of rows and where its
/// rowids came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    pub dims: usize,
    pub rows: u64,
    pub rowids_from: RowidSource,
}

/// Read a vector set as [`read_vectors`] does (same formats, same checks) but hand it to
/// `consume` in chunks of at most `chunk_rows` rows, in file order, so memory stays
/// bounded whatever the file's size. Duplicate ids are not looked for: that would need
/// memory in proportion to the file. When `consume` breaks, reading stops with
/// [`InputError::Stopped`].
pub fn read_vectors_chunked(
    path: &Path,
    opts: &InputOptions,
    chunk_rows: usize,
    consume: &mut dyn FnMut(VectorSet) -> ControlFlow<()>,
) -> Result<StreamSummary, InputError> {
    let opts = InputOptions { unique_ids: false, ..opts.clone() };
    let mut rows = 0;
    let mut counting = |chunk: VectorSet| {
        rows += chunk.len() as u64;
        consume(chunk)
    };
    let sink = ChunkSink { rows: chunk_rows.max(1), consume: &mut counting };
    let read = read_with(path, &opts, Some(sink))?;
    if rows == 0 {
        return Err(InputError::Empty { path: path.to_path_buf() });
    }
    Ok(StreamSummary { dims: read.dims, rows, rowids_from: read.rowids_from })
}

/// Where a streaming [`Collector`] sends its full chunks.
pub(super) struct ChunkSink<'s> {
    rows: usize,
    consume: &'s mut dyn FnMut(VectorSet) -> ControlFlow<()>,
}

fn read_with<'a>(path: &'a Path, opts: &InputOptions, sink: Option<ChunkSink<'a>>) -> Result<VectorSet, InputError> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "fvecs" => super::fvecs::read_vecs(path, opts, sink, Vecs::Float),
        "bvecs" => super::fvecs::read_vecs(path, opts, sink, Vecs::Byte),
        "npy" => super::npy::read_npy(path, opts, sink),
        "csv" => super::csv_input::read_csv(path, opts, sink, b','),
        "tsv" => super::csv_input::read_csv(path, opts, sink, b'\t'),
        "parquet" | "pq" => super::parquet_input::read_parquet(path, opts, sink),
        _ => {
            let mut magic = Vec::with_capacity(4);
            File::open(path).and_then(|f| f.take(4).read_to_end(&mut magic)).map_err(|e| io_error(path, e))?;
            if magic.is_empty() {
                Err(InputError::Empty { path: path.to_path_buf() })
            } else if magic == b"PAR1" {
                super::parquet_input::read_parquet(path, opts, sink)
            } else {
                Err(InputError::UnknownFormat { path: path.to_path_buf(), ext })
            }
        }
    }
}

/// Element types a vector may be stored as; converted to f32 on the way in.
pub(super) trait Element: Copy {
    const TYPE: InputType;
    fn to_f32(self) -> f32;
    /// How to show a value that became non-finite in f32.
    fn describe(self) -> String;
}

impl Element for f32 {
    const TYPE: InputType = InputType::F32;
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    fn describe(self) -> String {
        self.to_string()
    }
}

impl Element for f64 {
    const TYPE: InputType = InputType::F64;
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn describe(self) -> String {
        if self.is_finite() {
            // A finite f64 only goes non-finite by overflowing f32.
            format!("{self:e} (outside the f32 range)")
        } else {
            self.to_string()
        }
    }
}

impl Element for u8 {
    const TYPE: InputType = InputType::U8;
    #[inline]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    fn describe(self) -> String {
        self.to_string()
    }
}

impl Element for i8 {
    const TYPE: InputType = InputType::I8;
    #[inline]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    fn describe(self) -> String {
        self.to_string()
    }
}

impl Element for half::f16 {
    const TYPE: InputType = InputType::F16;
    #[inline]
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    fn describe(self) -> String {
        self.to_f32().to_string()
    }
}

/// Accumulates rows from any reader and applies the checks common to all
/// formats (dims, finiteness, unique ids, emptiness); when streaming, hands
/// every full chunk to its sink.
pub(super) struct Collector<'a> {
    sink: Option<ChunkSink<'a>>,
    path: &'a Path,
    dims: Option<usize>,
    /// Row that fixed `dims`; `None` when it came from `expect_dims`.
    dims_row: Option<u64>,
    rowids: Vec<u64>,
    data: Vec<f32>,
    source: InputType,
    /// rowid -> first row, only when uniqueness is checked.
    seen: Option<HashMap<u64, u64, BuildHasherDefault<IdHasher>>>,
    id_column: String,
    rowids_from: RowidSource,
}

/// Hasher for u64 ids: SipHash's DoS resistance buys nothing for ids read
/// from the user's own file, and made the unique check dominate read time.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // splitmix64 finaliser: spreads sequential ids over all bits.
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Cap on up-front reservation (in f32s): row counts from file metadata are
/// trusted only this far; beyond it the Vec grows as data actually arrives.
const MAX_RESERVE: usize = 1 << 28;

impl<'a> Collector<'a> {
    /// `id_column` is `None` when the file has no id column, so that rowids are row
    /// positions (always unique) as `opts.positions` says, or the file is refused;
    /// `columns` says whether the format has columns at all.
    pub(super) fn new(
        path: &'a Path,
        opts: &InputOptions,
        id_column: Option<&str>,
        columns: bool,
        sink: Option<ChunkSink<'a>>,
    ) -> Result<Self, InputError> {
        let rowids_from = match (id_column, opts.positions) {
            (Some(_), _) => RowidSource::Column,
            (None, PositionRowids::From(start)) => RowidSource::Positions { start, columns },
            (None, PositionRowids::Refuse) => return Err(InputError::NoRowidColumn { path: path.to_path_buf(), columns }),
        };
        Ok(Collector {
            sink,
            path,
            dims: opts.expect_dims,
            dims_row: None,
            rowids: Vec::new(),
            data: Vec::new(),
            source: InputType::default(),
            seen: (opts.unique_ids && id_column.is_some()).then(HashMap::default),
            id_column: id_column.unwrap_or_default().to_string(),
            rowids_from,
        })
    }

    pub(super) fn path(&self) -> &'a Path {
        self.path
    }

    /// Reserve room for `rows` more rows (once dims are known).
    pub(super) fn reserve(&mut self, rows: usize) {
        let chunk = self.sink.as_ref().map_or(MAX_RESERVE, |s| s.rows);
        let rows = rows.min(MAX_RESERVE).min(chunk);
        self.rowids.reserve(rows);
        if let Some(seen) = &mut self.seen {
            seen.reserve(rows);
        }
        if let Some(d) = self.dims {
            self.data.reserve(rows.saturating_mul(d).min(MAX_RESERVE));
        }
    }

    pub(super) fn bad_dims(&self, row: u64, dims: i64, hint: impl Into<String>) -> InputError {
        InputError::BadDims { path: self.path.to_path_buf(), row, dims, hint: hint.into() }
    }

    /// Validate the length of the vector at `row` before its values are pushed.
    #[inline]
    pub(super) fn check_len(&mut self, row: u64, len: usize) -> Result<(), InputError> {
        if len == 0 || len > MAX_DIMS {
            return Err(self.bad_dims(
                row,
                len as i64,
                format!("vectors must have 1 to {MAX_DIMS} dims; filter empty or oversized vectors"),
            ));
        }
        match self.dims {
            Some(d) if d == len => Ok(()),
            Some(expected) => {
                Err(InputError::MixedDims { path: self.path.to_path_buf(), row, dims: len, expected, first_row: self.dims_row })
            }
            None => {
                self.dims = Some(len);
                self.dims_row = Some(row);
                Ok(())
            }
        }
    }

    /// Append one vector (length already checked with [`check_len`]) with the rowid read
    /// from the id column, `None` when there is none.
    #[inline]
    pub(super) fn push<T: Element>(&mut self, row: u64, rowid: Option<u64>, values: &[T]) -> Result<(), InputError> {
        let rowid = match (rowid, self.rowids_from) {
            (Some(rowid), _) => rowid,
            (None, RowidSource::Positions { start, .. }) => {
                start.checked_add(row).ok_or_else(|| InputError::RowidOverflow { path: self.path.to_path_buf(), start, row })?
            }
            (None, RowidSource::Column) => unreachable!("a reader with an id column passes every row's id"),
        };
        self.source = T::TYPE;
        let start = self.data.len();
        self.data.extend(values.iter().map(|v| v.to_f32()));
        // Branch-free fold so the common all-finite case vectorises.
        if !self.data[start..].iter().fold(true, |ok, v| ok & v.is_finite()) {
            let element = self.data[start..].iter().position(|v| !v.is_finite()).unwrap_or(0);
            self.data.truncate(start);
            return Err(InputError::NonFinite { path: self.path.to_path_buf(), row, element, value: values[element].describe() });
        }
        if let Some(seen) = &mut self.seen {
            match seen.entry(rowid) {
                Entry::Occupied(first) => {
                    return Err(InputError::DuplicateId {
                        path: self.path.to_path_buf(),
                        rowid,
                        row,
                        first_row: *first.get(),
                        column: self.id_column.clone(),
                    })
                }
                Entry::Vacant(slot) => {
                    slot.insert(row);
                }
            }
        }
        self.rowids.push(rowid);
        if self.sink.as_ref().is_some_and(|s| self.rowids.len() >= s.rows) {
            self.flush()?;
        }
        Ok(())
    }

    /// Hand the rows collected so far to the sink (if streaming).
    fn flush(&mut self) -> Result<(), InputError> {
        let (Some(sink), Some(dims)) = (&mut self.sink, self.dims) else { return Ok(()) };
        if self.rowids.is_empty() {
            return Ok(());
        }
        let chunk = VectorSet {
            dims,
            rowids: std::mem::replace(&mut self.rowids, Vec::with_capacity(sink.rows)),
            data: std::mem::replace(&mut self.data, Vec::with_capacity(sink.rows * dims)),
            source: self.source,
            rowids_from: self.rowids_from,
        };
        match (sink.consume)(chunk) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(InputError::Stopped { path: self.path.to_path_buf() }),
        }
    }

    /// The whole set; when streaming, an empty set that records dims (every row has
    /// gone to the sink).
    pub(super) fn finish(mut self) -> Result<VectorSet, InputError> {
        self.flush()?;
        // A stream's rows have all gone to its sink, which counts them.
        match self.dims {
            Some(dims) if !self.rowids.is_empty() || self.sink.is_some() => {
                Ok(VectorSet { dims, rowids: self.rowids, data: self.data, source: self.source, rowids_from: self.rowids_from })
            }
            _ => Err(InputError::Empty { path: self.path.to_path_buf() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::*;

    #[test]
    fn vector_set_accessors() {
        let set = VectorSet { dims: 2, rowids: vec![7, 9], data: vec![1.0, 2.0, 3.0, 4.0], ..Default::default() };
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
        assert_eq!(set.vector(1), &[3.0, 4.0]);
        assert!(VectorSet::default().is_empty());
    }

    #[test]
    fn chunked_reads_concatenate_to_the_whole_set() {
        let dir = tempfile::tempdir().unwrap();
        let set = random_set(1000, 5, 3);
        let fvecs = dir.path().join("v.fvecs");
        crate::io::write_fvecs(&fvecs, &set).unwrap();
        let parquet = dir.path().join("v.parquet");
        crate::io::write_vectors_parquet(&parquet, &set, true).unwrap();
        for path in [&fvecs, &parquet] {
            let whole = read_vectors(path, &InputOptions::default()).unwrap();
            let mut joined = VectorSet { dims: 5, ..Default::default() };
            let mut sizes = Vec::new();
            let summary = read_vectors_chunked(path, &InputOptions::default(), 300, &mut |chunk| {
                assert_eq!((chunk.dims, chunk.rowids_from), (5, whole.rowids_from));
                sizes.push(chunk.len());
                joined.rowids.extend(chunk.rowids);
                joined.data.extend(chunk.data);
                ControlFlow::Continue(())
            })
            .unwrap();
            joined.rowids_from = whole.rowids_from;
            assert_eq!(joined, whole, "{}", path.display());
            assert_eq!(sizes, vec![300, 300, 300, 100]);
            assert_eq!(summary, StreamSummary { dims: 5, rows: 1000, rowids_from: whole.rowids_from });
        }
    }

    #[test]
    fn chunked_read_of_an_empty_or_bad_file_fails_like_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("e.fvecs");
        std::fs::write(&empty, b"").unwrap();
        let err = read_vectors_chunked(&empty, &InputOptions::default(), 10, &mut |_| panic!("no rows")).unwrap_err();
        assert!(matches!(err, InputError::Empty { .. }), "{err}");
        let mixed = dir.path().join("m.fvecs");
        let mut bytes = Vec::new();
        for dims in [2i32, 2, 3] {
            bytes.extend(dims.to_le_bytes());
            bytes.extend((0..dims).flat_map(|_| 1.0f32.to_le_bytes()));
        }
        std::fs::write(&mixed, bytes).unwrap();
        let err = read_vectors_chunked(&mixed, &InputOptions::default(), 1, &mut |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(err, InputError::MixedDims { row: 2, .. }), "{err}");
    }

    #[test]
    fn unknown_extension_sniffs_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let set = random_set(10, 4, 1);
        let path = dir.path().join("vectors.bin");
        crate::io::write_vectors_parquet(&path, &set, true).unwrap();
        assert_eq!(read_vectors(&path, &InputOptions::default()).unwrap(), set);
    }

    #[test]
    fn unknown_extension_not_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.txt");
        std::fs::write(&path, b"1,2,3\n").unwrap();
        let msg = read_err(&path, &InputOptions::default());
        assert_one_line(&msg, &path);
        assert!(msg.contains(".fvecs") && msg.contains(".parquet"), "{msg}");
    }

    #[test]
    fn unknown_extension_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors");
        std::fs::write(&path, b"").unwrap();
        let msg = read_err(&path, &InputOptions::default());
        assert_one_line(&msg, &path);
        assert!(msg.contains("empty input"), "{msg}");
    }

    #[test]
    fn missing_file_is_io_error() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["nope.fvecs", "nope.parquet", "nope.dat"] {
            let path = dir.path().join(name);
            let err = read_vectors(&path, &InputOptions::default()).unwrap_err();
            assert!(matches!(err, InputError::Io { .. }), "{err}");
            assert_one_line(&err.to_string(), &path);
        }
    }
}
