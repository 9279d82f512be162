//! NumPy `.npy`: a 2-D array (rows x dims) of float32, float64, float16, uint8 or int8, in
//! C order. Rowid = row position.
//!
//! Format: magic `\x93NUMPY`, version (major, minor), header length (u16 LE in version 1,
//! u32 LE in 2 and 3), then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 128), }`, then the data.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::fvecs::read_full;
use super::input::{io_error, ChunkSink, Collector, Element, InputError, InputOptions, VectorSet};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element types we accept, by their `descr`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dtype {
    F32,
    F64,
    F16,
    U8,
    I8,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        match descr {
            "<f4" => Some(Dtype::F32),
            "<f8" => Some(Dtype::F64),
            "<f2" => Some(Dtype::F16),
            "|u1" | "<u1" | "u1" => Some(Dtype::U8),
            "|i1" | "<i1" | "i1" => Some(Dtype::I8),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 => 2,
            Dtype::U8 | Dtype::I8 => 1,
        }
    }
}

/// What the header says.
#[derive(Debug, PartialEq)]
struct Header {
    dtype: Dtype,
    rows: u64,
    dims: usize,
}

fn bad(path: &Path, message: impl Into<String>) -> InputError {
    InputError::BadNpy { path: path.to_path_buf(), message: message.into() }
}

/// The text after `'key':` in the header dict, up to the next top-level comma or brace.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

fn parse_header(path: &Path, text: &str) -> Result<Header, InputError> {
    let descr = dict_value(text, "descr").ok_or_else(|| bad(path, "the header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = Dtype::parse(descr).ok_or_else(|| {
        bad(path, format!("element type {descr} is not supported: save float32, float64, float16, uint8 or int8 (little-endian), e.g. arr.astype('<f4')"))
    })?;
    if dict_value(text, "fortran_order") != Some("False") {
        return Err(bad(path, "the array is in Fortran order: save np.ascontiguousarray(arr)"));
    }
    let shape = dict_value(text, "shape").ok_or_else(|| bad(path, "the header has no 'shape'"))?;
    let sizes: Vec<u64> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| bad(path, format!("shape {shape} is not a tuple of sizes"))))
        .collect::<Result<_, _>>()?;
    match sizes[..] {
        [rows, dims] => Ok(Header { dtype, rows, dims: dims as usize }),
        _ => Err(bad(path, format!("shape {shape} is not 2-D: save the vectors as an array of rows x dims"))),
    }
}

/// Opens a `.npy` file and reads its header; the reader is left at the first row.
fn open(path: &Path) -> Result<(BufReader<File>, Header), InputError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut preamble = [0u8; 8];
    let n = read_full(&mut reader, &mut preamble).map_err(|e| io_error(path, e))?;
    if n < 8 || preamble[..6] != MAGIC[..] {
        return Err(bad(path, "no NumPy magic: the file is not .npy"));
    }
    let header_len = match preamble[6] {
        1 => {
            let mut len = [0u8; 2];
            reader.read_exact(&mut len).map_err(|e| io_error(path, e))?;
            u16::from_le_bytes(len) as usize
        }
        2 | 3 => {
            let mut len = [0u8; 4];
            reader.read_exact(&mut len).map_err(|e| io_error(path, e))?;
            u32::from_le_bytes(len) as usize
        }
        v => return Err(bad(path, format!("format version {v} is not supported"))),
    };
    if header_len > 1 << 20 {
        return Err(bad(path, format!("a {header_len}-byte header is not plausible")));
    }
    let mut text = vec![0u8; header_len];
    reader.read_exact(&mut text).map_err(|_| bad(path, "the header is truncated"))?;
    Ok((reader, parse_header(path, &String::from_utf8_lossy(&text))?))
}

/// Rows of a `.npy` file, from its header.
pub(super) fn rows(path: &Path) -> Result<u64, InputError> {
    Ok(open(path)?.1.rows)
}

pub(super) fn read_npy<'a>(path: &'a Path, opts: &InputOptions, sink: Option<ChunkSink<'a>>) -> Result<VectorSet, InputError> {
    super::fvecs::reject_column_options(path, opts, ".npy")?;
    let (mut reader, header) = open(path)?;
    let mut c = Collector::new(path, opts, None, false, sink)?;
    if header.rows > 0 {
        // Checked before the row buffer is sized by it.
        c.check_len(0, header.dims)?;
        c.reserve(header.rows as usize);
    }
    let mut bytes = vec![0u8; header.dims * header.dtype.size()];
    for row in 0..header.rows {
        let n = read_full(&mut reader, &mut bytes).map_err(|e| io_error(path, e))?;
        if n < bytes.len() {
            return Err(InputError::Truncated { path: path.to_path_buf(), row, needed: bytes.len() as u64, available: n as u64 });
        }
        match header.dtype {
            Dtype::F32 => push(&mut c, row, &bytes, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))?,
            Dtype::F64 => push(&mut c, row, &bytes, |b| f64::from_le_bytes(b.try_into().expect("8 bytes")))?,
            Dtype::F16 => push(&mut c, row, &bytes, |b| half::f16::from_le_bytes([b[0], b[1]]))?,
            Dtype::U8 => c.push(row, None, &bytes)?,
            Dtype::I8 => push(&mut c, row, &bytes, |b| b[0] as i8)?,
        }
    }
    c.finish()
}

/// Decodes one row of `T`-sized little-endian values and pushes it.
fn push<T: Element>(c: &mut Collector, row: u64, bytes: &[u8], decode: impl Fn(&[u8]) -> T) -> Result<(), InputError> {
    let values: Vec<T> = bytes.chunks_exact(std::mem::size_of::<T>()).map(decode).collect();
    c.push(row, None, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::assert_contains;
    use crate::io::{read_vectors, InputType, RowidSource};

    /// A version-1 `.npy` file with `descr`, `shape` and the raw data.
    fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
        let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((dict.len() as u16).to_le_bytes());
        out.extend(dict.as_bytes());
        out.extend(data);
        out
    }

    fn read(bytes: &[u8]) -> Result<VectorSet, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.npy");
        std::fs::write(&path, bytes).unwrap();
        read_vectors(&path, &InputOptions::default())
    }

    #[test]
    fn every_element_type_reads_as_f32_rows() {
        let rowids_from = RowidSource::Positions { start: 0, columns: false };
        let want = VectorSet { dims: 2, rowids: vec![0, 1], data: vec![1.0, -2.0, 3.0, 4.0], rowids_from, ..Default::default() };
        let f32s: Vec<u8> = want.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let f64s: Vec<u8> = want.data.iter().flat_map(|x| f64::from(*x).to_le_bytes()).collect();
        let f16s: Vec<u8> = want.data.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
        let i8s: Vec<u8> = want.data.iter().map(|x| *x as i8 as u8).collect();
        for (descr, data, source) in
            [("<f4", f32s, InputType::F32), ("<f8", f64s, InputType::F64), ("<f2", f16s, InputType::F16), ("|i1", i8s, InputType::I8)]
        {
            assert_eq!(read(&npy(descr, "(2, 2)", false, &data)).unwrap(), VectorSet { source, ..want.clone() }, "{descr}");
        }
        let u8s = read(&npy("|u1", "(1, 3)", false, &[0, 128, 255])).unwrap();
        assert_eq!((u8s.data, u8s.source), (vec![0.0, 128.0, 255.0], InputType::U8));
    }

    #[test]
    fn unusable_arrays_are_refused_in_one_line() {
        let data = [0u8; 16];
        for (descr, shape, fortran, expect) in [
            (">f4", "(2, 2)", false, "element type >f4 is not supported"),
            ("<i8", "(2, 2)", false, "element type <i8"),
            ("<f4", "(2, 2)", true, "Fortran order"),
            ("<f4", "(4,)", false, "not 2-D"),
            ("<f4", "(2, 2, 1)", false, "not 2-D"),
            ("<f4", "(3, 2)", false, "truncated"),
            ("<f4", "(0, 2)", false, "empty input"),
            ("<f4", "(1, 99999999999)", false, "invalid vector length 99999999999"),
        ] {
            let msg = read(&npy(descr, shape, fortran, &data)).unwrap_err().to_string();
            assert_contains(&msg, &[expect]);
            assert!(!msg.contains('\n'), "{msg}");
        }
        let mut nan = npy("<f4", "(1, 2)", false, &[]);
        nan.extend(1.0f32.to_le_bytes());
        nan.extend(f32::NAN.to_le_bytes());
        assert_contains(&read(&nan).unwrap_err().to_string(), &["row 0", "element 1", "NaN"]);
        assert_contains(&read(b"\x93NUMPX\x01\x00").unwrap_err().to_string(), &["not .npy"]);
    }
}
