//! A look at an input without reading it in full: its dims, element type and row count,
//! for planning a build before committing to it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use super::input::{io_error, read_vectors_chunked, InputError, InputOptions, InputType};

/// What a probe learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub dims: usize,
    pub source: InputType,
    pub rows: u64,
    /// False when `rows` is estimated (CSV/TSV: file size over the mean size of the first
    /// rows); true when the file's own metadata or fixed record size gives it.
    pub rows_exact: bool,
}

/// Rows read to learn dims and the element type (and to size a CSV row).
const SAMPLE_ROWS: usize = 256;

/// Reads the first rows of `path` (with the checks a full read makes) and its metadata.
pub fn probe(path: &Path, opts: &InputOptions) -> Result<Probe, InputError> {
    let mut first = None;
    let result = read_vectors_chunked(path, opts, SAMPLE_ROWS, &mut |chunk| {
        first = Some(chunk);
        ControlFlow::Break(())
    });
    let sample = match (result, first) {
        (Ok(_) | Err(InputError::Stopped { .. }), Some(chunk)) => chunk,
        (Err(e), _) => return Err(e),
        (Ok(_), None) => return Err(InputError::Empty { path: path.to_path_buf() }),
    };
    let len = std::fs::metadata(path).map_err(|e| io_error(path, e))?.len();
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let record = |element_bytes: u64| len / (4 + sample.dims as u64 * element_bytes);
    let (rows, rows_exact) = match ext.as_str() {
        "fvecs" => (record(4), true),
        "bvecs" => (record(1), true),
        "npy" => (super::npy::rows(path)?, true),
        "csv" | "tsv" => (estimate_text_rows(path, len)?, false),
        _ => (super::parquet_input::rows(path)?, true),
    };
    Ok(Probe { dims: sample.dims, source: sample.source, rows: rows.max(sample.len() as u64), rows_exact })
}

/// File size over the mean size of the first lines (after the header line).
fn estimate_text_rows(path: &Path, len: u64) -> Result<u64, InputError> {
    let mut reader = BufReader::new(File::open(path).map_err(|e| io_error(path, e))?).take(1 << 20);
    let mut line = Vec::new();
    let header = reader.read_until(b'\n', &mut line).map_err(|e| io_error(path, e))? as u64;
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).map_err(|e| io_error(path, e))? {
            0 => break,
            n => (lines, bytes) = (lines + 1, bytes + n as u64),
        }
    }
    Ok(if lines == 0 { 0 } else { (len - header) * lines / bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::random_set;

    #[test]
    fn probe_gives_dims_type_and_rows_of_every_format() {
        let dir = tempfile::tempdir().unwrap();
        let set = random_set(1000, 12, 3);
        let opts = InputOptions::default();
        let fvecs = dir.path().join("v.fvecs");
        crate::io::write_fvecs(&fvecs, &set).unwrap();
        assert_eq!(probe(&fvecs, &opts).unwrap(), Probe { dims: 12, source: InputType::F32, rows: 1000, rows_exact: true });
        let parquet = dir.path().join("v.parquet");
        crate::io::write_vectors_parquet(&parquet, &set, true).unwrap();
        assert_eq!(probe(&parquet, &opts).unwrap(), Probe { dims: 12, source: InputType::F32, rows: 1000, rows_exact: true });
        let mut bvecs = Vec::new();
        for i in 0..300u32 {
            bvecs.extend(3u32.to_le_bytes());
            bvecs.extend([i as u8, 1, 2]);
        }
        let path = dir.path().join("v.bvecs");
        std::fs::write(&path, bvecs).unwrap();
        assert_eq!(probe(&path, &opts).unwrap(), Probe { dims: 3, source: InputType::U8, rows: 300, rows_exact: true });
        let csv: String =
            std::iter::once("rowid,emb\n".to_string()).chain((0..2000).map(|i| format!("{i},\"[{}.5, 2.25, -3.0]\"\n", i % 10))).collect();
        let path = dir.path().join("v.csv");
        std::fs::write(&path, csv).unwrap();
        let p = probe(&path, &opts).unwrap();
        assert_eq!((p.dims, p.source, p.rows_exact), (3, InputType::F32, false));
        assert!((1900..=2100).contains(&p.rows), "estimated {} rows", p.rows);
    }

    #[test]
    fn probe_reports_a_bad_first_row_like_a_full_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.fvecs");
        std::fs::write(&path, [0u8, 0, 0, 0]).unwrap();
        let e = probe(&path, &InputOptions::default()).unwrap_err().to_string();
        assert!(e.contains("v.fvecs") && e.contains("row 0"), "{e}");
    }
}
