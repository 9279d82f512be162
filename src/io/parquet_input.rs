//! Parquet vectors: reading (any list-of-float column, optional integer id
//! column) and writing in the layout DuckDB uses for `FLOAT[N]`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, GenericListArray, Int64Array, ListArray, OffsetSizeTrait, PrimitiveArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, Schema,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::arrow::ProjectionMask;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::input::{find_column, io_error, one_line, ChunkSink, Collector, Element, InputError, InputOptions, VectorSet};
use super::output::{OutputError, PARQUET_MARKER};

const VECTOR_TYPES: &str = "List, LargeList or FixedSizeList of Float32, Float64, Float16, Int8 or UInt8";
const ID_TYPES: &str = "Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32 or UInt64";
/// Rows per decoded batch: large enough to amortise per-batch work, small
/// enough that the transient Arrow copy stays a few MB.
const BATCH_ROWS: usize = 8192;

fn column_list(schema: &Schema) -> String {
    let cols: Vec<String> = schema.fields().iter().map(|f| format!("{} ({})", f.name(), f.data_type())).collect();
    if cols.is_empty() {
        "none".to_string()
    } else {
        cols.join(", ")
    }
}

fn is_list(dt: &DataType) -> bool {
    matches!(dt, DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
}

fn is_vector_type(dt: &DataType) -> bool {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            matches!(f.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Int8 | DataType::UInt8)
        }
        _ => false,
    }
}

fn is_id_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// The column called `name`, matched as DuckDB matches names (ignoring case).
fn named_column(path: &Path, schema: &Schema, name: &str, option: &'static str) -> Result<Option<usize>, InputError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    find_column(path, &names, name, Some(option))
}

/// The column a flag names, which must exist.
fn flagged_column(path: &Path, schema: &Schema, name: &str, option: &'static str) -> Result<usize, InputError> {
    named_column(path, schema, name, option)?.ok_or_else(|| InputError::MissingColumn {
        path: path.to_path_buf(),
        option,
        name: name.to_string(),
        columns: column_list(schema),
    })
}

fn unsupported(path: &Path, column: &str, role: &'static str, dt: &DataType, supported: &'static str) -> InputError {
    InputError::UnsupportedType { path: path.to_path_buf(), column: column.to_string(), role, data_type: dt.to_string(), supported }
}

/// Rows of a Parquet file, from its footer.
pub(super) fn rows(path: &Path) -> Result<u64, InputError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| InputError::ParquetOpen { path: path.to_path_buf(), message: one_line(e) })?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

pub(super) fn read_parquet<'a>(path: &'a Path, opts: &InputOptions, sink: Option<ChunkSink<'a>>) -> Result<VectorSet, InputError> {
    let open_err = |e: parquet::errors::ParquetError| InputError::ParquetOpen { path: path.to_path_buf(), message: one_line(e) };
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(open_err)?;
    let schema = builder.schema().clone();

    let vec_idx = match &opts.vector_column {
        Some(name) => flagged_column(path, &schema, name, "vector-column")?,
        None => {
            let lists: Vec<usize> = (0..schema.fields().len()).filter(|&i| is_list(schema.field(i).data_type())).collect();
            match lists[..] {
                [i] => i,
                [] => return Err(InputError::NoVectorColumn { path: path.to_path_buf(), columns: column_list(&schema) }),
                _ => {
                    let names: Vec<&str> = lists.iter().map(|&i| schema.field(i).name().as_str()).collect();
                    return Err(InputError::AmbiguousVectorColumn { path: path.to_path_buf(), candidates: names.join(", ") });
                }
            }
        }
    };
    let vec_field = schema.field(vec_idx);
    if !is_vector_type(vec_field.data_type()) {
        return Err(unsupported(path, vec_field.name(), "vector column", vec_field.data_type(), VECTOR_TYPES));
    }

    let id_idx = match &opts.id_column {
        Some(name) => Some(flagged_column(path, &schema, name, "id-column")?),
        None => named_column(path, &schema, "rowid", "id-column")?,
    };
    if let Some(i) = id_idx {
        let f = schema.field(i);
        if !is_id_type(f.data_type()) {
            return Err(unsupported(path, f.name(), "id column", f.data_type(), ID_TYPES));
        }
    }

    let vec_name = vec_field.name().clone();
    let id_name = id_idx.map(|i| schema.field(i).name().clone());
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    // Top-level Arrow fields correspond one-to-one to Parquet root columns.
    let mask = ProjectionMask::roots(builder.parquet_schema(), std::iter::once(vec_idx).chain(id_idx));
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(open_err)?;
    // Projected columns come back in file order.
    let (vec_pos, id_pos) = match id_idx {
        Some(i) if i < vec_idx => (1, Some(0)),
        Some(_) => (0, Some(1)),
        None => (0, None),
    };

    let mut c = Collector::new(path, opts, id_name.as_deref(), true, sink)?;
    let mut row = 0u64;
    let mut ids = Vec::with_capacity(BATCH_ROWS);
    let mut reserved = false;
    for batch in reader {
        let batch = batch.map_err(|e| InputError::ParquetDecode {
            path: path.to_path_buf(),
            row,
            column: vec_name.clone(),
            message: one_line(e),
        })?;
        if let (Some(pos), Some(name)) = (id_pos, &id_name) {
            ids.clear();
            collect_ids(path, batch.column(pos), name, row, &mut ids)?;
        }
        let ids = id_pos.map(|_| ids.as_slice());
        append_vectors(&mut c, batch.column(vec_pos), &vec_name, row, ids)?;
        row += batch.num_rows() as u64;
        if !reserved && row > 0 {
            // Dims are known after the first rows; size the output once.
            c.reserve(total_rows.saturating_sub(row as usize));
            reserved = true;
        }
    }
    c.finish()
}

/// Convert one batch of the id column to u64, rejecting NULL and negative ids.
fn collect_ids(path: &Path, col: &ArrayRef, column: &str, row0: u64, out: &mut Vec<u64>) -> Result<(), InputError> {
    let args = (path, col, column, row0);
    match col.data_type() {
        DataType::Int8 => ids_of::<Int8Type>(args, out, |v| u64::try_from(v).ok()),
        DataType::Int16 => ids_of::<Int16Type>(args, out, |v| u64::try_from(v).ok()),
        DataType::Int32 => ids_of::<Int32Type>(args, out, |v| u64::try_from(v).ok()),
        DataType::Int64 => ids_of::<Int64Type>(args, out, |v| u64::try_from(v).ok()),
        DataType::UInt8 => ids_of::<UInt8Type>(args, out, |v| Some(v.into())),
        DataType::UInt16 => ids_of::<UInt16Type>(args, out, |v| Some(v.into())),
        DataType::UInt32 => ids_of::<UInt32Type>(args, out, |v| Some(v.into())),
        DataType::UInt64 => ids_of::<UInt64Type>(args, out, Some),
        other => Err(unsupported(path, column, "id column", other, ID_TYPES)),
    }
}

fn ids_of<T>(
    (path, col, column, row0): (&Path, &ArrayRef, &str, u64),
    out: &mut Vec<u64>,
    conv: impl Fn(T::Native) -> Option<u64>,
) -> Result<(), InputError>
where
    T: ArrowPrimitiveType,
    T::Native: std::fmt::Display,
{
    let arr = col.as_primitive::<T>();
    let nulls = arr.nulls().filter(|n| n.null_count() > 0);
    for (i, &v) in arr.values().iter().enumerate() {
        let id = if nulls.is_some_and(|n| n.is_null(i)) { None } else { conv(v) };
        match id {
            Some(id) => out.push(id),
            None => {
                let value = if nulls.is_some_and(|n| n.is_null(i)) { "NULL".to_string() } else { v.to_string() };
                return Err(InputError::BadId { path: path.to_path_buf(), row: row0 + i as u64, column: column.to_string(), value });
            }
        }
    }
    Ok(())
}

/// Where a batch's vectors live: list validity, row count, and the child
/// values array; `range(i)` gives row i's span in the child.
struct Lists<'a, R> {
    column: &'a str,
    row0: u64,
    ids: Option<&'a [u64]>,
    nulls: Option<&'a NullBuffer>,
    len: usize,
    range: R,
}

/// List and LargeList differ only in their offset width.
fn append_offset_lists<O: OffsetSizeTrait>(
    c: &mut Collector,
    l: &GenericListArray<O>,
    column: &str,
    row0: u64,
    ids: Option<&[u64]>,
) -> Result<(), InputError> {
    let off = l.value_offsets();
    let lists = Lists { column, row0, ids, nulls: l.nulls(), len: l.len(), range: |i: usize| (off[i].as_usize(), off[i + 1].as_usize()) };
    append_values(c, lists, l.values())
}

fn append_vectors(c: &mut Collector, col: &ArrayRef, column: &str, row0: u64, ids: Option<&[u64]>) -> Result<(), InputError> {
    match col.data_type() {
        DataType::List(_) => append_offset_lists(c, col.as_list::<i32>(), column, row0, ids),
        DataType::LargeList(_) => append_offset_lists(c, col.as_list::<i64>(), column, row0, ids),
        DataType::FixedSizeList(_, n) => {
            let l = col.as_fixed_size_list();
            // The child array is sliced with the list, so row i starts at i * n.
            let n = *n as usize;
            let lists = Lists { column, row0, ids, nulls: l.nulls(), len: l.len(), range: |i: usize| (i * n, (i + 1) * n) };
            append_values(c, lists, l.values())
        }
        other => Err(unsupported(c.path(), column, "vector column", other, VECTOR_TYPES)),
    }
}

/// Downcast the child values once per batch, then copy row slices.
fn append_values<R: Fn(usize) -> (usize, usize)>(c: &mut Collector, lists: Lists<'_, R>, values: &ArrayRef) -> Result<(), InputError> {
    match values.data_type() {
        DataType::Float32 => append_typed(c, lists, values.as_primitive::<Float32Type>()),
        DataType::Float64 => append_typed(c, lists, values.as_primitive::<Float64Type>()),
        DataType::Float16 => append_typed(c, lists, values.as_primitive::<Float16Type>()),
        // DuckDB's TINYINT[] and UTINYINT[].
        DataType::Int8 => append_typed(c, lists, values.as_primitive::<Int8Type>()),
        DataType::UInt8 => append_typed(c, lists, values.as_primitive::<UInt8Type>()),
        _ => Err(unsupported(c.path(), lists.column, "vector column", values.data_type(), VECTOR_TYPES)),
    }
}

fn append_typed<T, R>(c: &mut Collector, lists: Lists<'_, R>, values: &PrimitiveArray<T>) -> Result<(), InputError>
where
    T: ArrowPrimitiveType,
    T::Native: Element,
    R: Fn(usize) -> (usize, usize),
{
    let vals = values.values();
    let list_nulls = lists.nulls.filter(|n| n.null_count() > 0);
    let value_nulls = values.nulls().filter(|n| n.null_count() > 0);
    for i in 0..lists.len {
        let row = lists.row0 + i as u64;
        if list_nulls.is_some_and(|n| n.is_null(i)) {
            return Err(InputError::NullVector { path: c.path().to_path_buf(), row, column: lists.column.to_string() });
        }
        let (start, end) = (lists.range)(i);
        if let Some(element) = value_nulls.and_then(|n| (start..end).position(|j| n.is_null(j))) {
            return Err(InputError::NullElement { path: c.path().to_path_buf(), row, column: lists.column.to_string(), element });
        }
        c.check_len(row, end - start)?;
        c.push(row, lists.ids.map(|ids| ids[i]), &vals[start..end])?;
    }
    Ok(())
}

/// Write `set` as Parquet: optional `rowid` Int64, then `emb` List<Float32>,
/// all nullable and without an embedded Arrow schema — the shape of a DuckDB
/// `COPY (SELECT rowid, emb FROM t) TO 'x.parquet'` of a FLOAT[N] column.
pub fn write_vectors_parquet(path: &Path, set: &VectorSet, with_rowid: bool) -> Result<(), OutputError> {
    let file = File::create(path).map_err(|e| OutputError::from(e).at(path))?;
    write_vectors_parquet_to(file, set, with_rowid).map_err(|e| e.at(path))
}

/// [`write_vectors_parquet`] into `out`.
pub fn write_vectors_parquet_to<W: Write + Send>(out: W, set: &VectorSet, with_rowid: bool) -> Result<(), OutputError> {
    let d = set.dims;
    if set.data.len() != set.len() * d {
        return Err(OutputError::Invalid(format!("vector data has {} values, expected {} rows x {d} dims", set.data.len(), set.len())));
    }
    let item = Arc::new(Field::new("element", DataType::Float32, true));
    let mut fields = Vec::new();
    if with_rowid {
        fields.push(Field::new("rowid", DataType::Int64, true));
    }
    fields.push(Field::new("emb", DataType::List(item.clone()), true));
    let schema = Arc::new(Schema::new(fields));
    // Dictionaries never pay off for float vectors or unique ids, and
    // trying them first made writing several times slower.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_key_value_metadata(Some(vec![PARQUET_MARKER.key_value(PARQUET_MARKER.vectors)]))
        .build();
    let options = ArrowWriterOptions::new().with_properties(props).with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(BufWriter::new(out), schema.clone(), options)?;
    // ~1M floats per batch keeps the i32 list offsets small and memory bounded.
    let rows_per_batch = ((1 << 20) / d.max(1)).max(1);
    let mut start = 0;
    while start < set.len() {
        let end = (start + rows_per_batch).min(set.len());
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(2);
        if with_rowid {
            let ids = set.rowids[start..end]
                .iter()
                .map(|&r| i64::try_from(r).map_err(|_| OutputError::OutOfRange { what: "rowid", value: r, target: "Int64" }))
                .collect::<Result<Vec<i64>, _>>()?;
            cols.push(Arc::new(Int64Array::from(ids)));
        }
        let values = Float32Array::from(set.data[start * d..end * d].to_vec());
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(d, end - start));
        cols.push(Arc::new(ListArray::try_new(item.clone(), offsets, Arc::new(values), None)?));
        writer.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
        start = end;
    }
    writer.into_inner()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::*;
    use crate::io::{read_vectors, InputType, PositionRowids, RowidSource};
    use arrow::array::{FixedSizeListArray, Float16Array, Float64Array, Int32Array, LargeListArray, StringArray, UInt64Array};
    use half::f16;
    use std::path::PathBuf;

    fn write_batch(path: &Path, batch: &RecordBatch, max_row_group: Option<usize>) {
        let mut props = WriterProperties::builder();
        if let Some(n) = max_row_group {
            props = props.set_max_row_group_row_count(Some(n));
        }
        let file = File::create(path).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props.build())).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    fn item(dt: DataType) -> Arc<Field> {
        Arc::new(Field::new("item", dt, true))
    }

    fn list_f32(rows: Vec<Option<Vec<Option<f32>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(rows))
    }

    fn fsl_f32(data: &[f32], dims: usize) -> ArrayRef {
        let values = Arc::new(Float32Array::from(data.to_vec()));
        Arc::new(FixedSizeListArray::try_new(item(DataType::Float32), dims as i32, values, None).unwrap())
    }

    /// Rows of plain vectors as a List<Float32>.
    fn rows(vs: &[&[f32]]) -> ArrayRef {
        list_f32(vs.iter().map(|v| Some(v.iter().map(|&x| Some(x)).collect())).collect())
    }

    fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        (dir, path)
    }

    fn error_of(b: &RecordBatch, opts: &InputOptions) -> String {
        let (_dir, path) = tmp("bad.parquet");
        write_batch(&path, b, None);
        let msg = read_err(&path, opts);
        assert_one_line(&msg, &path);
        msg
    }

    fn default_opts() -> InputOptions {
        InputOptions::default()
    }

    #[test]
    fn round_trip_with_rowid() {
        let (_dir, path) = tmp("v.parquet");
        let set = random_set(2500, 33, 7);
        write_vectors_parquet(&path, &set, true).unwrap();
        let opts = InputOptions { unique_ids: true, expect_dims: Some(33), ..Default::default() };
        assert_eq!(read_vectors(&path, &opts).unwrap(), set);
    }

    #[test]
    fn round_trip_without_rowid() {
        let (_dir, path) = tmp("v.pq");
        let mut set = random_set(100, 8, 8);
        write_vectors_parquet(&path, &set, false).unwrap();
        set.rowids = (0..100).collect();
        set.rowids_from = RowidSource::Positions { start: 0, columns: true };
        assert_eq!(read_vectors(&path, &default_opts()).unwrap(), set);
    }

    #[test]
    fn write_rejects_huge_rowid() {
        let (_dir, path) = tmp("v.parquet");
        let set = VectorSet { dims: 1, rowids: vec![u64::MAX], data: vec![0.5], ..Default::default() };
        let msg = write_vectors_parquet(&path, &set, true).unwrap_err().to_string();
        assert_contains(&msg, &[&path.display().to_string(), "18446744073709551615"]);
    }

    #[test]
    fn positions_span_row_groups_and_batches() {
        let (_dir, path) = tmp("v.parquet");
        let n = 20_000;
        let data = random_data(n, 4, 9);
        let b = batch(vec![("name", Arc::new(StringArray::from(vec!["x"; n])) as ArrayRef), ("emb", fsl_f32(&data, 4))]);
        write_batch(&path, &b, Some(3000));
        let set = read_vectors(&path, &default_opts()).unwrap();
        assert_eq!(set.rowids, (0..n as u64).collect::<Vec<_>>());
        assert_eq!(set.data, data);
    }

    #[test]
    fn column_names_match_ignoring_case_and_an_exact_name_wins() {
        let (_dir, path) = tmp("v.parquet");
        let ids = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
        // DuckDB spells the column however the table does: `ROWID` is the rowid column.
        write_batch(&path, &batch(vec![("ROWID", ids(vec![70, 30])), ("Emb", rows(&[&[1.0], &[2.0]]))]), None);
        let set = read_vectors(&path, &InputOptions { vector_column: Some("emb".into()), ..default_opts() }).unwrap();
        assert_eq!((set.rowids, set.rowids_from), (vec![70, 30], RowidSource::Column));
        // An exact match wins over one that differs in case.
        write_batch(&path, &batch(vec![("RowId", ids(vec![1, 2])), ("rowid", ids(vec![8, 9])), ("emb", rows(&[&[1.0], &[2.0]]))]), None);
        assert_eq!(read_vectors(&path, &default_opts()).unwrap().rowids, vec![8, 9]);
        assert_eq!(read_vectors(&path, &InputOptions { id_column: Some("RowId".into()), ..default_opts() }).unwrap().rowids, vec![1, 2]);
        // Two names that differ from it only in case, and no exact one: refused, naming both.
        write_batch(&path, &batch(vec![("RowId", ids(vec![1, 2])), ("ROWID", ids(vec![8, 9])), ("emb", rows(&[&[1.0], &[2.0]]))]), None);
        let msg = read_err(&path, &default_opts());
        assert_one_line(&msg, &path);
        assert_contains(&msg, &["columns RowId and ROWID both match \"rowid\"", "ignoring case", "pass --id-column with the exact name"]);
        let msg = read_err(&path, &InputOptions { id_column: Some("Rowid".into()), ..default_opts() });
        assert_contains(&msg, &["RowId and ROWID", "--id-column"]);
    }

    #[test]
    fn a_file_without_an_id_column_is_numbered_from_a_start_or_refused() {
        let (_dir, path) = tmp("v.parquet");
        write_batch(&path, &batch(vec![("emb", rows(&[&[1.0], &[2.0], &[3.0]]))]), None);
        let from = |start| InputOptions { positions: PositionRowids::From(start), ..default_opts() };
        let set = read_vectors(&path, &from(1000)).unwrap();
        assert_eq!((set.rowids, set.rowids_from), (vec![1000, 1001, 1002], RowidSource::Positions { start: 1000, columns: true }));
        let msg = read_err(&path, &from(u64::MAX - 1));
        assert_one_line(&msg, &path);
        assert_contains(&msg, &["rowid 18446744073709551614 + row 2", "beyond the largest rowid", "--start-rowid"]);
        let msg = read_err(&path, &InputOptions { positions: PositionRowids::Refuse, ..default_opts() });
        assert_one_line(&msg, &path);
        assert_contains(
            &msg,
            &["no rowid column", "export the rowid column", "--id-column NAME", "--start-rowid N", "--rowids-from-position"],
        );
    }

    #[test]
    fn fixed_size_list_with_named_int32_ids() {
        let (_dir, path) = tmp("v.parquet");
        let data = random_data(5, 3, 10);
        let b = batch(vec![
            ("emb", fsl_f32(&data, 3)),
            ("rowid", Arc::new(Int32Array::from(vec![9, 9, 9, 9, 9])) as ArrayRef),
            ("id", Arc::new(Int32Array::from(vec![50, 40, 30, 20, 10])) as ArrayRef),
        ]);
        write_batch(&path, &b, None);
        let opts = InputOptions { id_column: Some("ID".into()), unique_ids: true, ..Default::default() };
        let set = read_vectors(&path, &opts).unwrap();
        assert_eq!((set.dims, set.rowids.clone(), set.data.clone()), (3, vec![50, 40, 30, 20, 10], data));
        // The default id column is `rowid`; duplicates there are fine unless unique_ids.
        assert_eq!(read_vectors(&path, &default_opts()).unwrap().rowids, vec![9; 5]);
    }

    #[test]
    fn large_list_f64_with_u64_ids() {
        let (_dir, path) = tmp("v.parquet");
        let data64: Vec<f64> = random_data(6, 5, 11).iter().map(|&v| v as f64 * 1.5).collect();
        let offsets = OffsetBuffer::<i64>::from_lengths(std::iter::repeat_n(5, 6));
        let list = LargeListArray::new(item(DataType::Float64), offsets, Arc::new(Float64Array::from(data64.clone())), None);
        let ids = UInt64Array::from(vec![u64::MAX, 0, 1, 2, 3, 4]);
        let b = batch(vec![("rowid", Arc::new(ids) as ArrayRef), ("vec", Arc::new(list) as ArrayRef)]);
        write_batch(&path, &b, None);
        let set = read_vectors(&path, &default_opts()).unwrap();
        assert_eq!(set.rowids, vec![u64::MAX, 0, 1, 2, 3, 4]);
        assert_eq!(set.data, data64.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn list_f16() {
        let (_dir, path) = tmp("v.parquet");
        let data: Vec<f16> = random_data(4, 6, 12).iter().map(|&v| f16::from_f32(v)).collect();
        let offsets = OffsetBuffer::<i32>::from_lengths(std::iter::repeat_n(6, 4));
        let list = ListArray::new(item(DataType::Float16), offsets, Arc::new(Float16Array::from(data.clone())), None);
        write_batch(&path, &batch(vec![("emb", Arc::new(list) as ArrayRef)]), None);
        let set = read_vectors(&path, &default_opts()).unwrap();
        assert_eq!((set.dims, set.source), (6, InputType::F16));
        assert_eq!(set.data, data.iter().map(|v| v.to_f32()).collect::<Vec<_>>());
    }

    #[test]
    fn int8_and_uint8_lists_read_as_their_values_and_type() {
        let (_dir, path) = tmp("v.parquet");
        let signed = ListArray::from_iter_primitive::<Int8Type, _, _>(vec![
            Some(vec![Some(-128i8), Some(0), Some(127)]),
            Some(vec![Some(5), Some(-5), Some(1)]),
        ]);
        let unsigned = ListArray::from_iter_primitive::<UInt8Type, _, _>(vec![
            Some(vec![Some(0u8), Some(128), Some(255)]),
            Some(vec![Some(1), Some(2), Some(3)]),
        ]);
        write_batch(&path, &batch(vec![("a", Arc::new(signed) as ArrayRef), ("b", Arc::new(unsigned) as ArrayRef)]), None);
        let read = |column: &str| read_vectors(&path, &InputOptions { vector_column: Some(column.into()), ..default_opts() }).unwrap();
        let a = read("a");
        assert_eq!((a.data, a.source), (vec![-128.0, 0.0, 127.0, 5.0, -5.0, 1.0], InputType::I8));
        let b = read("b");
        assert_eq!((b.data, b.source), (vec![0.0, 128.0, 255.0, 1.0, 2.0, 3.0], InputType::U8));
    }

    #[test]
    fn empty_table() {
        let msg = error_of(&batch(vec![("emb", rows(&[]))]), &default_opts());
        assert_contains(&msg, &["empty input"]);
    }

    #[test]
    fn mixed_dims() {
        let b = batch(vec![("emb", rows(&[&[1.0, 2.0], &[1.0, 2.0], &[1.0, 2.0, 3.0]]))]);
        assert_contains(&error_of(&b, &default_opts()), &["row 2", "3 dims", "row 0 has 2"]);
    }

    #[test]
    fn empty_vector() {
        let b = batch(vec![("emb", rows(&[&[1.0], &[]]))]);
        assert_contains(&error_of(&b, &default_opts()), &["row 1", "length 0"]);
    }

    #[test]
    fn expect_dims_mismatch() {
        let b = batch(vec![("emb", rows(&[&[1.0, 2.0]]))]);
        let opts = InputOptions { expect_dims: Some(3), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["row 0", "2 dims", "the index has 3"]);
    }

    #[test]
    fn nan_and_inf() {
        for (bad, text) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
            let b = batch(vec![("emb", rows(&[&[1.0, 2.0], &[1.0, 2.0], &[bad, 2.0]]))]);
            assert_contains(&error_of(&b, &default_opts()), &["(row 2, element 0, counting from 0)", text]);
        }
    }

    #[test]
    fn f64_overflowing_f32() {
        let offsets = OffsetBuffer::<i32>::from_lengths([2, 2]);
        let values = Float64Array::from(vec![1.0, 2.0, 3.0, 1e300]);
        let list = ListArray::new(item(DataType::Float64), offsets, Arc::new(values), None);
        let b = batch(vec![("emb", Arc::new(list) as ArrayRef)]);
        assert_contains(&error_of(&b, &default_opts()), &["(row 1, element 1, counting from 0)", "1e300", "f32 range"]);
    }

    #[test]
    fn null_vector() {
        let b = batch(vec![("emb", list_f32(vec![Some(vec![Some(1.0)]), Some(vec![Some(2.0)]), None]))]);
        assert_contains(&error_of(&b, &default_opts()), &["NULL vector", "row 2", "column emb", "WHERE emb IS NOT NULL", "FLOAT[]"]);
    }

    #[test]
    fn null_vector_fixed_size() {
        let values = Arc::new(Float32Array::from(vec![1.0, 2.0, 0.0, 0.0]));
        let nulls = Some(NullBuffer::from(vec![true, false]));
        let fsl = FixedSizeListArray::try_new(item(DataType::Float32), 2, values, nulls).unwrap();
        let b = batch(vec![("e", Arc::new(fsl) as ArrayRef)]);
        assert_contains(&error_of(&b, &default_opts()), &["NULL vector", "row 1", "WHERE e IS NOT NULL"]);
    }

    #[test]
    fn null_element() {
        let b = batch(vec![("emb", list_f32(vec![Some(vec![Some(1.0), Some(2.0)]), Some(vec![Some(1.0), None])]))]);
        assert_contains(&error_of(&b, &default_opts()), &["NULL element (row 1, element 1, counting from 0, column emb)", "IS NOT NULL"]);
    }

    #[test]
    fn duplicate_rowid() {
        let b = batch(vec![
            ("rowid", Arc::new(Int64Array::from(vec![5, 6, 7, 6])) as ArrayRef),
            ("emb", rows(&[&[1.0], &[2.0], &[3.0], &[4.0]])),
        ]);
        let opts = InputOptions { unique_ids: true, ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["duplicate rowid 6", "row 3", "first seen at row 1", "column rowid"]);
    }

    #[test]
    fn negative_and_null_ids() {
        let b = batch(vec![("rowid", Arc::new(Int64Array::from(vec![5, -5])) as ArrayRef), ("emb", rows(&[&[1.0], &[2.0]]))]);
        assert_contains(&error_of(&b, &default_opts()), &["invalid id -5", "row 1", "column rowid"]);
        let b = batch(vec![
            ("k", Arc::new(Int32Array::from(vec![Some(1), Some(2), None])) as ArrayRef),
            ("emb", rows(&[&[1.0], &[2.0], &[3.0]])),
        ]);
        let opts = InputOptions { id_column: Some("k".into()), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["invalid id NULL", "row 2", "column k"]);
    }

    #[test]
    fn unsupported_types() {
        let b = batch(vec![
            ("text", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
            ("emb", rows(&[&[1.0]])),
            ("score", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef),
        ]);
        let opts = InputOptions { vector_column: Some("text".into()), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["column text", "Utf8", "FixedSizeList"]);
        let opts = InputOptions { id_column: Some("score".into()), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["column score", "Float64", "UInt64"]);

        let ints = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
        let b = batch(vec![("emb", Arc::new(ints) as ArrayRef)]);
        assert_contains(&error_of(&b, &default_opts()), &["column emb", "Int32", "Float16"]);
    }

    #[test]
    fn vector_column_choice() {
        let b = batch(vec![("a", rows(&[&[1.0]])), ("b", rows(&[&[2.0, 3.0]]))]);
        assert_contains(&error_of(&b, &default_opts()), &["a, b", "--vector-column"]);
        let (_dir, path) = tmp("two.parquet");
        write_batch(&path, &b, None);
        let opts = InputOptions { vector_column: Some("b".into()), ..Default::default() };
        assert_eq!(read_vectors(&path, &opts).unwrap().data, vec![2.0, 3.0]);

        let b = batch(vec![("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
        assert_contains(&error_of(&b, &default_opts()), &["no vector column", "id (Int64)"]);
    }

    #[test]
    fn missing_named_columns() {
        let b = batch(vec![("rowid", Arc::new(Int64Array::from(vec![1])) as ArrayRef), ("emb", rows(&[&[1.0]]))]);
        let opts = InputOptions { vector_column: Some("embedding".into()), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["\"embedding\"", "--vector-column", "rowid (Int64), emb (List("]);
        let opts = InputOptions { id_column: Some("pk".into()), ..Default::default() };
        assert_contains(&error_of(&b, &opts), &["\"pk\"", "--id-column", "rowid (Int64)"]);
    }

    #[test]
    fn decode_failure_is_wrapped_with_hint() {
        let (dir, path) = tmp("v.parquet");
        let set =
            VectorSet { dims: 16, rowids: (0..5000).collect(), data: (0..80_000).map(|i| (i % 97) as f32).collect(), ..Default::default() };
        write_vectors_parquet(&path, &set, true).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let chunk = &builder.metadata().row_group(0).columns()[1];
        let (start, size) = (chunk.data_page_offset() as usize, chunk.compressed_size() as usize);
        // Scramble bytes inside the emb column's compressed page data; the
        // footer stays intact so the failure happens while decoding batches.
        let mut bytes = std::fs::read(&path).unwrap();
        for b in &mut bytes[start + size / 2..][..64] {
            *b ^= 0x5A;
        }
        let bad = dir.path().join("corrupt.parquet");
        std::fs::write(&bad, bytes).unwrap();
        let msg = read_err(&bad, &default_opts());
        assert_one_line(&msg, &bad);
        assert_contains(&msg, &["cannot decode Parquet data", "rows from 0, counting from 0", "column emb", "WHERE emb IS NOT NULL"]);
    }

    #[test]
    fn not_parquet() {
        let (_dir, path) = tmp("v.parquet");
        std::fs::write(&path, b"definitely not parquet").unwrap();
        let msg = read_err(&path, &default_opts());
        assert_one_line(&msg, &path);
        assert_contains(&msg, &["not a readable Parquet file"]);
    }
}
