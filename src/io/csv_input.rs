//! CSV and TSV with a header, as DuckDB's `COPY ... TO 'x.csv'` writes them: the vectors in
//! one column as list literals (`"[1.0, -2.0, 3.5]"`), rowids in `rowid` (or
//! `--id-column`, else the row position), other columns ignored.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::input::{find_column, io_error, ChunkSink, Collector, Element, InputError, InputOptions, InputType, VectorSet};

/// A number read from text. Parsed as f64 so an out-of-range value can be shown as
/// written; text has no width of its own, so it counts as f32, the type of the FLOAT[]
/// arrays DuckDB exports.
#[derive(Clone, Copy)]
struct TextNumber(f64);

impl Element for TextNumber {
    const TYPE: InputType = InputType::F32;
    fn to_f32(self) -> f32 {
        self.0.to_f32()
    }
    fn describe(self) -> String {
        self.0.describe()
    }
}

fn bad(path: &Path, row: u64, message: impl Into<String>) -> InputError {
    InputError::BadCsv { path: path.to_path_buf(), row, message: message.into() }
}

/// The values of a list literal such as `[1.0, -2.0, 3.5]`, into `out`.
fn parse_list(text: &str, out: &mut Vec<TextNumber>) -> Result<(), String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("{:?} is not a list like [1.0, 2.0]", shorten(text)))?;
    out.clear();
    if inner.trim().is_empty() {
        return Ok(());
    }
    for item in inner.split(',') {
        let item = item.trim();
        out.push(item.parse::<f64>().map(TextNumber).map_err(|_| format!("{:?} is not a number", shorten(item)))?);
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

pub(super) fn read_csv<'a>(
    path: &'a Path,
    opts: &InputOptions,
    sink: Option<ChunkSink<'a>>,
    delimiter: u8,
) -> Result<VectorSet, InputError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(BufReader::with_capacity(1 << 20, file));
    let names: Vec<String> = reader
        .byte_headers()
        .map_err(|e| bad(path, 0, format!("cannot read the header line ({e})")))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let columns = names.join(", ");
    let flagged = |name: &str, option: &'static str| {
        find_column(path, &names, name, Some(option))?.ok_or_else(|| InputError::MissingColumn {
            path: path.to_path_buf(),
            option,
            name: name.to_string(),
            columns: columns.clone(),
        })
    };
    let id_at = match &opts.id_column {
        Some(name) => Some(flagged(name, "id-column")?),
        None => find_column(path, &names, "rowid", Some("id-column"))?,
    };
    let mut vector_at = opts.vector_column.as_deref().map(|name| flagged(name, "vector-column")).transpose()?;

    let mut c = Collector::new(path, opts, id_at.map(|i| names[i].as_str()), true, sink)?;
    let mut record = csv::ByteRecord::new();
    let mut values = Vec::new();
    let mut row = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(bad(path, row, format!("not valid CSV ({e})"))),
        }
        let field = |i: usize| -> Result<&str, InputError> {
            std::str::from_utf8(record.get(i).unwrap_or_default())
                .map_err(|_| bad(path, row, format!("column {} is not UTF-8 text", names[i])))
        };
        // Without --vector-column, the first row shows which column holds lists.
        let vector = match vector_at {
            Some(i) => i,
            None => {
                let is_list =
                    (0..record.len()).map(|i| field(i).map(|f| f.trim_start().starts_with('['))).collect::<Result<Vec<bool>, _>>()?;
                let lists: Vec<usize> = (0..record.len()).filter(|&i| is_list[i]).collect();
                match lists[..] {
                    [i] => *vector_at.insert(i),
                    [] => return Err(InputError::NoVectorColumn { path: path.to_path_buf(), columns }),
                    _ => {
                        let candidates = lists.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>().join(", ");
                        return Err(InputError::AmbiguousVectorColumn { path: path.to_path_buf(), candidates });
                    }
                }
            }
        };
        let text = field(vector)?;
        if text.trim().is_empty() {
            return Err(bad(path, row, format!("column {} is empty (NULL): filter NULL vectors before COPY", names[vector])));
        }
        parse_list(text, &mut values).map_err(|why| bad(path, row, format!("column {}: {why}", names[vector])))?;
        let rowid = match id_at {
            None => None,
            Some(i) => {
                let text = field(i)?.trim();
                Some(text.parse::<u64>().map_err(|_| InputError::BadId {
                    path: path.to_path_buf(),
                    row,
                    column: names[i].clone(),
                    value: if text.is_empty() { "NULL".to_string() } else { shorten(text) },
                })?)
            }
        };
        c.check_len(row, values.len())?;
        c.push(row, rowid, &values)?;
        row += 1;
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_util::assert_contains;
    use crate::io::{read_vectors, PositionRowids, RowidSource};

    fn read_text(name: &str, text: &[u8], opts: &InputOptions) -> Result<VectorSet, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_vectors(&path, opts)
    }

    #[test]
    fn duckdb_exports_read_with_rowids_or_positions() {
        // What DuckDB 2.0 writes for COPY (SELECT rowid, emb, note ...) TO 'x.csv'.
        let csv = b"rowid,emb,note\n7,\"[0.0, -2.0, 1e-07]\",\"a,b\"\n3,\"[1.5, -2.0, 1e-07]\",\"a,b\"\n";
        let set = read_text("x.csv", csv, &InputOptions::default()).unwrap();
        assert_eq!(set, VectorSet { dims: 3, rowids: vec![7, 3], data: vec![0.0, -2.0, 1e-7, 1.5, -2.0, 1e-7], ..Default::default() });
        let tsv = b"emb\n[0.0, -2.0]\n[1.5, -2.0]\n";
        let set = read_text("x.tsv", tsv, &InputOptions::default()).unwrap();
        let rowids_from = RowidSource::Positions { start: 0, columns: true };
        assert_eq!(set, VectorSet { dims: 2, rowids: vec![0, 1], data: vec![0.0, -2.0, 1.5, -2.0], rowids_from, ..Default::default() });
        let two = b"id,a,b\n5,[1],\"[2, 3]\"\n";
        let opts = InputOptions { vector_column: Some("b".into()), id_column: Some("id".into()), ..Default::default() };
        assert_eq!(
            read_text("x.csv", two, &opts).unwrap(),
            VectorSet { dims: 2, rowids: vec![5], data: vec![2.0, 3.0], ..Default::default() }
        );
    }

    #[test]
    fn column_names_match_ignoring_case() {
        let csv = b"RowId,EMB\n7,\"[1.0]\"\n3,\"[2.0]\"\n";
        let opts = InputOptions { vector_column: Some("emb".into()), positions: PositionRowids::Refuse, ..Default::default() };
        let set = read_text("x.csv", csv, &opts).unwrap();
        assert_eq!((set.rowids, set.rowids_from), (vec![7, 3], RowidSource::Column));
        let two = b"RowId,ROWID,emb\n7,1,\"[1.0]\"\n";
        let msg = read_text("x.csv", two, &InputOptions::default()).unwrap_err().to_string();
        assert_contains(&msg, &["columns RowId and ROWID both match \"rowid\"", "--id-column"]);
        let msg = read_text("x.tsv", b"emb\n[1.0]\n", &InputOptions { positions: PositionRowids::Refuse, ..Default::default() })
            .unwrap_err()
            .to_string();
        assert_contains(&msg, &["x.tsv: no rowid column", "--id-column NAME", "--start-rowid N", "--rowids-from-position"]);
    }

    #[test]
    fn bad_rows_are_named_in_one_line() {
        let opts = InputOptions { unique_ids: true, ..Default::default() };
        for (text, expect) in [
            (&b"rowid,emb\n0,\"[1, 2]\"\n1,\"[1, x]\"\n"[..], &["row 1", "\"x\" is not a number"][..]),
            (b"rowid,emb\n0,\"[1, 2]\"\n1,\"1, 2\"\n", &["row 1", "is not a list like [1.0, 2.0]"]),
            (b"rowid,emb\n0,\"1, 2\"\n", &["no vector column", "rowid, emb"]),
            (b"rowid,emb\n0,\"[1, 2]\"\n1,\n", &["row 1", "empty (NULL)"]),
            (b"rowid,emb\n0,\"[1, 2]\"\n-1,\"[1, 2]\"\n", &["row 1", "invalid id -1"]),
            (b"rowid,emb\n0,\"[1, 2]\"\n0,\"[1, 2]\"\n", &["duplicate", "row 1"]),
            (b"rowid,emb\n0,\"[1, 2]\"\n1,\"[1, 2, 3]\"\n", &["row 1", "3 dims", "row 0 has 2"]),
            (b"rowid,emb\n0,\"[1, nan]\"\n", &["row 0", "NaN"]),
            (b"rowid,emb\n0,\"[]\"\n", &["row 0", "invalid vector length 0"]),
            (b"rowid,emb\n0,\"[1, 2]\",extra\n", &["row 0", "not valid CSV"]),
            (b"rowid,emb\n0,\"[1, \xff]\"\n", &["row 0", "not UTF-8"]),
            (b"rowid,a,b\n0,[1],[2]\n", &["several list columns", "a, b"]),
            (b"rowid,emb\n", &["empty input"]),
        ] {
            let msg = read_text("x.csv", text, &opts).unwrap_err().to_string();
            assert_contains(&msg, expect);
            assert!(!msg.contains('\n'), "{msg}");
        }
        let opts = InputOptions { vector_column: Some("vec".into()), ..Default::default() };
        let msg = read_text("x.csv", b"rowid,emb\n0,[1]\n", &opts).unwrap_err().to_string();
        assert_contains(&msg, &["no column named \"vec\"", "rowid, emb"]);
    }
}
