//! `.fvecs` and `.bvecs`: records of (i32 LE dim, dim values: f32 LE or u8). Rowid = record
//! position.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::input::{io_error, ChunkSink, Collector, InputError, InputOptions, VectorSet, MAX_DIMS};

/// Read until `buf` is full or EOF; returns the bytes read. Unlike
/// `read_exact`, a short count tells us how truncated the record is.
pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Column options mean the user expected a table; say so rather than ignore them.
pub(super) fn reject_column_options(path: &Path, opts: &InputOptions, format: &'static str) -> Result<(), InputError> {
    for (set, option) in [(&opts.vector_column, "vector-column"), (&opts.id_column, "id-column")] {
        if set.is_some() {
            return Err(InputError::OptionNotApplicable { path: path.to_path_buf(), option, format });
        }
    }
    Ok(())
}

/// The two record layouts: the value width and the name used in messages.
#[derive(Clone, Copy)]
pub(super) enum Vecs {
    /// `.fvecs`: f32 values.
    Float,
    /// `.bvecs`: u8 values (SIFT1B, the BIGANN sets).
    Byte,
}

impl Vecs {
    fn value_len(self) -> usize {
        match self {
            Vecs::Float => 4,
            Vecs::Byte => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Vecs::Float => ".fvecs",
            Vecs::Byte => ".bvecs",
        }
    }
}

pub(super) fn read_vecs<'a>(
    path: &'a Path,
    opts: &InputOptions,
    sink: Option<ChunkSink<'a>>,
    layout: Vecs,
) -> Result<VectorSet, InputError> {
    reject_column_options(path, opts, layout.name())?;
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).ok();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut c = Collector::new(path, opts, None, false, sink)?;
    let mut bytes = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    let mut row = 0u64;
    loop {
        let mut header = [0u8; 4];
        let n = read_full(&mut reader, &mut header).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        if n < 4 {
            return Err(InputError::Truncated { path: path.to_path_buf(), row, needed: 4, available: n as u64 });
        }
        let dim = i32::from_le_bytes(header);
        if dim <= 0 || dim as usize > MAX_DIMS {
            let hint = if row == 0 && header == *b"PAR1" {
                "this is a Parquet file; give it a .parquet extension".to_string()
            } else {
                let name = layout.name();
                format!(
                    "each {name} record starts with its dim (i32 little-endian, 1 to {MAX_DIMS}); \
                     the file is corrupt or not {name}"
                )
            };
            return Err(c.bad_dims(row, dim.into(), hint));
        }
        let dim = dim as usize;
        c.check_len(row, dim)?;
        if row == 0 {
            if let Some(len) = file_len {
                c.reserve((len / (4 + (layout.value_len() * dim) as u64)) as usize);
            }
        }
        bytes.resize(layout.value_len() * dim, 0);
        let n = read_full(&mut reader, &mut bytes).map_err(|e| io_error(path, e))?;
        if n < bytes.len() {
            return Err(InputError::Truncated { path: path.to_path_buf(), row, needed: 4 + bytes.len() as u64, available: 4 + n as u64 });
        }
        match layout {
            Vecs::Float => {
                values.clear();
                values.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                c.push(row, None, &values)?;
            }
            Vecs::Byte => c.push(row, None, &bytes)?,
        }
        row += 1;
    }
    c.finish()
}

/// Write `set` as `.fvecs` (rowids are not stored: the format has no place for them).
pub fn write_fvecs(path: &Path, set: &VectorSet) -> io::Result<()> {
    write_fvecs_to(File::create(path)?, set)
}

/// [`write_fvecs`] into `out`.
pub fn write_fvecs_to(out: impl Write, set: &VectorSet) -> io::Result<()> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    if set.dims == 0 || set.dims > MAX_DIMS {
        return Err(invalid(format!("cannot write {} dims to .fvecs (1 to {MAX_DIMS} allowed)", set.dims)));
    }
    if set.data.len() != set.len() * set.dims {
        return Err(invalid(format!("vector data has {} values, expected {} rows x {} dims", set.data.len(), set.len(), set.dims)));
    }
    let header = (set.dims as i32).to_le_bytes();
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut record = Vec::with_capacity(4 + 4 * set.dims);
    for i in 0..set.len() {
        record.clear();
        record.extend_from_slice(&header);
        for v in set.vector(i) {
            record.extend_from_slice(&v.to_le_bytes());
        }
        w.write_all(&record)?;
    }
    // into_inner flushes and reports a failed final write instead of dropping it.
    w.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::*;
    use crate::io::{read_vectors, InputType, PositionRowids, RowidSource};

    fn raw_record(dim: i32, values: &[f32]) -> Vec<u8> {
        let mut out = dim.to_le_bytes().to_vec();
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.fvecs");
        let mut set = random_set(300, 17, 42);
        write_fvecs(&path, &set).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 300 * (4 + 17 * 4));
        // fvecs carries no ids: they come back as positions.
        set.rowids = (0..300).collect();
        set.rowids_from = RowidSource::Positions { start: 0, columns: false };
        assert_eq!(read_vectors(&path, &InputOptions::default()).unwrap(), set);
        let opts = InputOptions { expect_dims: Some(17), unique_ids: true, ..Default::default() };
        assert_eq!(read_vectors(&path, &opts).unwrap(), set);
        // Unless positions are refused, as an insert refuses them.
        let msg = read_err(&path, &InputOptions { positions: PositionRowids::Refuse, ..Default::default() });
        assert_one_line(&msg, &path);
        assert_contains(&msg, &["no rowid column", "as Parquet or CSV with a rowid column", "--start-rowid N", "--rowids-from-position"]);
    }

    #[test]
    fn uppercase_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("V.FVECS");
        std::fs::write(&path, raw_record(2, &[1.0, 2.0])).unwrap();
        assert_eq!(read_vectors(&path, &InputOptions::default()).unwrap().data, vec![1.0, 2.0]);
    }

    #[test]
    fn write_rejects_bad_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.fvecs");
        let bad = VectorSet { dims: 3, rowids: vec![0, 1], data: vec![0.0; 5], ..Default::default() };
        assert_eq!(write_fvecs(&path, &bad).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let zero = VectorSet { dims: 0, rowids: vec![0], data: vec![], ..Default::default() };
        assert_eq!(write_fvecs(&path, &zero).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    fn err_for(bytes: &[u8], opts: &InputOptions) -> (String, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.fvecs");
        std::fs::write(&path, bytes).unwrap();
        let msg = read_err(&path, opts);
        assert_one_line(&msg, &path);
        (msg, path, dir)
    }

    #[test]
    fn empty_file() {
        let (msg, ..) = err_for(b"", &InputOptions::default());
        assert_contains(&msg, &["empty input"]);
    }

    #[test]
    fn truncated_last_record() {
        let mut bytes = raw_record(4, &[1.0; 4]);
        bytes.extend(raw_record(4, &[2.0; 4]));
        bytes.extend(raw_record(4, &[3.0; 4]));
        bytes.truncate(bytes.len() - 5);
        let (msg, ..) = err_for(&bytes, &InputOptions::default());
        assert_contains(&msg, &["row 2", "truncated", "needs 20 bytes", "only 15"]);
    }

    #[test]
    fn truncated_header() {
        let mut bytes = raw_record(2, &[1.0, 2.0]);
        bytes.extend_from_slice(&[2, 0]);
        let (msg, ..) = err_for(&bytes, &InputOptions::default());
        assert_contains(&msg, &["row 1", "truncated"]);
    }

    #[test]
    fn absurd_dims() {
        // Huge, negative and zero headers are all rejected before allocating.
        for (dim, text) in [(1i32 << 30, "1073741824"), (-3, "-3"), (0, "length 0")] {
            let mut bytes = raw_record(2, &[1.0, 2.0]);
            bytes.extend(dim.to_le_bytes());
            bytes.extend([0u8; 64]);
            let (msg, ..) = err_for(&bytes, &InputOptions::default());
            assert_contains(&msg, &["row 1", text, "corrupt or not .fvecs"]);
        }
    }

    #[test]
    fn parquet_with_fvecs_extension() {
        let (msg, ..) = err_for(b"PAR1\0\0\0\0", &InputOptions::default());
        assert_contains(&msg, &["row 0", "Parquet"]);
    }

    #[test]
    fn mixed_dims() {
        let mut bytes = raw_record(4, &[1.0; 4]);
        bytes.extend(raw_record(4, &[1.0; 4]));
        bytes.extend(raw_record(5, &[1.0; 5]));
        let (msg, ..) = err_for(&bytes, &InputOptions::default());
        assert_contains(&msg, &["row 2", "5 dims", "row 0 has 4"]);
    }

    #[test]
    fn expect_dims_mismatch() {
        let bytes = raw_record(4, &[1.0; 4]);
        let opts = InputOptions { expect_dims: Some(8), ..Default::default() };
        let (msg, ..) = err_for(&bytes, &opts);
        assert_contains(&msg, &["row 0", "4 dims", "the index has 8"]);
    }

    #[test]
    fn nan_and_inf() {
        for (bad, text) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
            let mut bytes = raw_record(4, &[1.0; 4]);
            bytes.extend(raw_record(4, &[0.0, 1.0, 2.0, bad]));
            let (msg, ..) = err_for(&bytes, &InputOptions::default());
            assert_contains(&msg, &["row 1", "element 3", text]);
        }
    }

    #[test]
    fn column_options_rejected() {
        let bytes = raw_record(1, &[1.0]);
        let opts = InputOptions { id_column: Some("id".into()), ..Default::default() };
        let (msg, ..) = err_for(&bytes, &opts);
        assert_contains(&msg, &["--id-column"]);
    }

    /// A `.bvecs` record: i32 dim, then one byte per value.
    fn bvecs_record(values: &[u8]) -> Vec<u8> {
        let mut out = (values.len() as i32).to_le_bytes().to_vec();
        out.extend_from_slice(values);
        out
    }

    #[test]
    fn bvecs_reads_bytes_as_floats_with_the_same_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.bvecs");
        let mut bytes = bvecs_record(&[0, 7, 255]);
        bytes.extend(bvecs_record(&[1, 2, 3]));
        std::fs::write(&path, &bytes).unwrap();
        let set = read_vectors(&path, &InputOptions::default()).unwrap();
        let rowids_from = RowidSource::Positions { start: 0, columns: false };
        assert_eq!(
            set,
            VectorSet { dims: 3, rowids: vec![0, 1], data: vec![0.0, 7.0, 255.0, 1.0, 2.0, 3.0], source: InputType::U8, rowids_from }
        );

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let msg = read_vectors(&path, &InputOptions::default()).unwrap_err().to_string();
        assert_contains(&msg, &["row 1", "truncated", "needs 7 bytes but only 6 remain"]);
        let mut mixed = bvecs_record(&[1, 2, 3]);
        mixed.extend(bvecs_record(&[1, 2]));
        std::fs::write(&path, &mixed).unwrap();
        let msg = read_vectors(&path, &InputOptions::default()).unwrap_err().to_string();
        assert_contains(&msg, &["row 1", "2 dims", "row 0 has 3"]);
        let opts = InputOptions { vector_column: Some("emb".into()), ..Default::default() };
        let msg = read_vectors(&path, &opts).unwrap_err().to_string();
        assert_contains(&msg, &["--vector-column", ".bvecs input has no columns"]);
        std::fs::write(&path, 0i32.to_le_bytes()).unwrap();
        let msg = read_vectors(&path, &InputOptions::default()).unwrap_err().to_string();
        assert_contains(&msg, &["each .bvecs record starts with its dim"]);
    }
}
