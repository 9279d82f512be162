//! Bad input gets a one-line error naming the file and what to do, exit code 2, and
//! leaves every existing file untouched.

use lmdiskann::io::write_vectors_parquet;
use lmdiskann::VectorSet;

use crate::util::Workdir;

/// Builds a good index, then runs `args`, which must fail; the index must be unchanged
/// and no temporary file left behind. Returns the error line.
fn fails_without_touching_the_index(w: &Workdir, args: &[&str]) -> String {
    if !w.path("index.lmd").exists() {
        w.dataset(200, 8, 2);
        w.ok(&["build", "--input", "vectors.parquet"]);
    }
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let err = w.fails(args);
    assert_eq!(std::fs::read(w.path("index.lmd")).unwrap(), before, "{args:?} changed the index");
    assert!(!w.path("index.lmd.tmp").exists(), "{args:?} left a temporary file");
    err
}

fn fvecs(records: &[(i32, Vec<f32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (d, v) in records {
        out.extend(d.to_le_bytes());
        v.iter().for_each(|x| out.extend(x.to_le_bytes()));
    }
    out
}

fn set(dims: usize, rowids: Vec<u64>, data: Vec<f32>) -> VectorSet {
    VectorSet { dims, rowids, data, ..Default::default() }
}

#[test]
fn bad_vector_files_are_refused_naming_file_and_row() {
    let w = Workdir::new();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.fvecs", vec![], &["empty"]),
        ("truncated.fvecs", fvecs(&[(4, vec![1.0; 4]), (4, vec![1.0; 4])])[..30].to_vec(), &["truncated"]),
        ("mixed.fvecs", fvecs(&[(4, vec![1.0; 4]), (3, vec![1.0; 3])]), &["row 1", "3", "4"]),
        ("nan.fvecs", fvecs(&[(2, vec![1.0, 2.0]), (2, vec![f32::NAN, 0.0])]), &["row 1"]),
        ("inf.fvecs", fvecs(&[(2, vec![f32::INFINITY, 2.0])]), &["row 0"]),
        ("absurd.fvecs", fvecs(&[(i32::MAX, vec![1.0])]), &["dim"]),
        ("notes.txt", b"hello world".to_vec(), &["format"]),
    ];
    for (name, bytes, expect) in cases {
        std::fs::write(w.path(name), bytes).unwrap();
        let err = fails_without_touching_the_index(&w, &["build", "--input", name]);
        assert!(err.contains(name), "{name}: error does not name the file: {err}");
        for e in expect {
            assert!(err.contains(e), "{name}: error lacks {e:?}: {err}");
        }
    }
}

#[test]
fn bad_parquet_files_are_refused_naming_file_and_row() {
    let w = Workdir::new();
    write_vectors_parquet(&w.path("dup.parquet"), &set(2, vec![5, 6, 5], vec![0.0; 6]), true).unwrap();
    write_vectors_parquet(&w.path("nan.parquet"), &set(2, vec![0, 1], vec![0.0, 1.0, f32::NAN, 1.0]), true).unwrap();
    let err = fails_without_touching_the_index(&w, &["build", "--input", "dup.parquet"]);
    assert!(err.contains("dup.parquet") && err.contains('5') && err.to_lowercase().contains("duplicate"), "{err}");
    let err = fails_without_touching_the_index(&w, &["build", "--input", "nan.parquet"]);
    assert!(err.contains("nan.parquet") && err.contains("row 1"), "{err}");
    let err = fails_without_touching_the_index(&w, &["build", "--input", "vectors.parquet", "--vector-column", "nope"]);
    assert!(err.contains("nope") && err.contains("emb"), "names the missing column and the ones there are: {err}");
    let err = fails_without_touching_the_index(&w, &["build", "--input", "missing.parquet"]);
    assert!(err.contains("missing.parquet"), "{err}");
}

#[test]
fn zero_vector_under_cosine_is_refused() {
    let w = Workdir::new();
    write_vectors_parquet(&w.path("zero.parquet"), &set(2, vec![10, 11], vec![1.0, 0.0, 0.0, 0.0]), true).unwrap();
    let err = fails_without_touching_the_index(&w, &["build", "--input", "zero.parquet", "--metric", "cosine"]);
    assert!(err.contains("zero.parquet") && err.contains("row 1") && err.contains("rowid 11"), "{err}");
}

#[test]
fn bad_parameters_name_the_knob_to_turn() {
    let w = Workdir::new();
    let err = fails_without_touching_the_index(&w, &["build", "--input", "vectors.parquet", "-R", "8"]);
    assert!(err.contains("--max-degree"), "{err}");
    let err = fails_without_touching_the_index(&w, &["build", "--input", "vectors.parquet", "--block-size", "1000"]);
    assert!(err.contains("--block-size"), "{err}");
    let err = fails_without_touching_the_index(&w, &["build", "--input", "vectors.parquet", "--alpha", "0.5"]);
    assert!(err.contains("--alpha"), "{err}");
    // 64 edges of 8-dim vectors need more than 512 bytes.
    let err = fails_without_touching_the_index(&w, &["build", "--input", "vectors.parquet", "-R", "64", "--block-size", "512"]);
    assert!(err.contains("raise --block-size"), "{err}");
}

#[test]
fn queries_that_do_not_fit_the_index_are_refused() {
    let w = Workdir::new();
    std::fs::write(w.path("q3.fvecs"), fvecs(&[(3, vec![1.0; 3])])).unwrap();
    let err = fails_without_touching_the_index(&w, &["search", "--query", "q3.fvecs"]);
    assert!(err.contains("q3.fvecs") && err.contains('3') && err.contains('8'), "{err}");
    let err = fails_without_touching_the_index(&w, &["search", "--query", "q.fvecs", "-k", "0"]);
    assert!(err.contains("-k"), "{err}");
}

#[test]
fn files_that_are_not_indexes_are_refused() {
    let w = Workdir::new();
    w.dataset(100, 8, 1);
    std::fs::write(w.path("text.lmd"), b"just some text, not an index at all, but long enough").unwrap();
    let err = w.fails(&["search", "--index", "text.lmd", "--query", "q.fvecs"]);
    assert!(err.contains("text.lmd") && err.contains("not an lmdiskann index"), "{err}");
    std::fs::write(w.path("empty.lmd"), b"").unwrap();
    let err = w.fails(&["stats", "--index", "empty.lmd"]);
    assert!(err.contains("empty.lmd") && err.contains("empty"), "{err}");
    std::fs::create_dir(w.path("dir.lmd")).unwrap();
    let err = w.fails(&["stats", "--index", "dir.lmd"]);
    assert!(err.contains("dir.lmd"), "{err}");

    // A file from a newer major version: refused with an upgrade hint, not misread.
    w.ok(&["build", "--input", "vectors.parquet"]);
    let mut bytes = std::fs::read(w.path("index.lmd")).unwrap();
    bytes[8..10].copy_from_slice(&3u16.to_le_bytes());
    bytes[10..12].copy_from_slice(&0u16.to_le_bytes());
    let dims = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..252]), &bytes[256..256 + 4 * dims]);
    bytes[252..256].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(w.path("newer.lmd"), &bytes).unwrap();
    let err = w.fails(&["stats", "--index", "newer.lmd"]);
    assert!(err.contains("newer.lmd") && err.contains("3.0") && err.contains("upgrade"), "{err}");

    // A truncated index.
    let good = std::fs::read(w.path("index.lmd")).unwrap();
    std::fs::write(w.path("short.lmd"), &good[..good.len() - 100]).unwrap();
    let err = w.fails(&["search", "--index", "short.lmd", "--query", "q.fvecs"]);
    assert!(err.contains("short.lmd") && err.contains("truncated"), "{err}");
}

/// A Parquet file of the given columns.
fn parquet(w: &Workdir, name: &str, columns: Vec<(&str, arrow::array::ArrayRef)>) {
    let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(w.path(name)).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Float lists, `None` for a NULL entry.
fn lists(rows: &[Option<Vec<Option<f32>>>]) -> arrow::array::ArrayRef {
    let mut b = arrow::array::ListBuilder::new(arrow::array::Float32Builder::new());
    for row in rows {
        match row {
            Some(values) => {
                values.iter().for_each(|v| b.values().append_option(*v));
                b.append(true);
            }
            None => b.append(false),
        }
    }
    std::sync::Arc::new(b.finish())
}

#[test]
fn a_table_of_further_bad_inputs() {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;
    let w = Workdir::new();
    let two = || Some(vec![Some(1.0), Some(2.0)]);
    let ids = |v: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(v)) };
    parquet(&w, "null_entry.parquet", vec![("rowid", ids(vec![0, 1])), ("emb", lists(&[two(), Some(vec![Some(1.0), None])]))]);
    parquet(&w, "null_vector.parquet", vec![("rowid", ids(vec![0, 1])), ("emb", lists(&[two(), None]))]);
    parquet(&w, "negative.parquet", vec![("rowid", ids(vec![0, -5])), ("emb", lists(&[two(), two()]))]);
    let text: ArrayRef = Arc::new(StringArray::from(vec!["[1, 2]", "[3, 4]"]));
    parquet(&w, "strings.parquet", vec![("rowid", ids(vec![0, 1])), ("emb", text)]);
    parquet(&w, "no_rows.parquet", vec![("rowid", ids(vec![])), ("emb", lists(&[]))]);
    std::fs::write(w.path("latin1.csv"), b"rowid,emb\n0,\"[1.0, 2.0]\"\n1,\"[\xe9, 2.0]\"\n").unwrap();
    std::fs::write(w.path("ragged.csv"), "rowid,emb\n0,\"[1.0, 2.0]\"\n1,\"[3.0]\"\n").unwrap();
    std::fs::write(w.path("word.csv"), "rowid,emb\n0,\"[1.0, 2.0]\"\n1,\"[three, 2.0]\"\n").unwrap();
    std::fs::write(w.path("short.bvecs"), [4u8, 0, 0, 0, 1, 2]).unwrap();
    std::fs::write(w.path("short.npy"), b"\x93NUMPY\x01\x00").unwrap();
    let mut complex = b"\x93NUMPY\x01\x00\x76\x00{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }".to_vec();
    complex.resize(10 + 0x76, b' ');
    complex[10 + 0x75] = b'\n';
    complex.extend([0u8; 32]);
    std::fs::write(w.path("complex.npy"), complex).unwrap();
    std::fs::write(w.path("gone.txt"), "3\nseven\n").unwrap();
    std::fs::write(w.path("negative.txt"), "3\n-4\n").unwrap();
    std::fs::write(w.path("q_nan.fvecs"), fvecs(&[(8, vec![f32::NAN; 8])])).unwrap();
    std::fs::write(w.path("q16.fvecs"), fvecs(&[(16, vec![1.0; 16])])).unwrap();
    std::fs::write(w.path("q8.fvecs"), fvecs(&[(8, vec![1.0; 8])])).unwrap();
    parquet(&w, "positional.parquet", vec![("emb", lists(&[Some(vec![Some(1.0); 8])]))]);
    parquet(&w, "two_rowids.parquet", vec![("RowId", ids(vec![0])), ("ROWID", ids(vec![1])), ("emb", lists(&[Some(vec![Some(1.0); 8])]))]);
    std::fs::create_dir(w.path("a_dir")).unwrap();
    // (what, arguments, words the error must hold besides the file's name)
    let cases: Vec<(&str, Vec<&str>, &[&str])> = vec![
        ("NULL list entry", vec!["build", "--input", "null_entry.parquet"], &["null_entry.parquet", "row 1"]),
        ("NULL vector", vec!["build", "--input", "null_vector.parquet"], &["null_vector.parquet", "row 1"]),
        ("negative rowid", vec!["build", "--input", "negative.parquet"], &["negative.parquet", "-5"]),
        ("strings for vectors", vec!["build", "--input", "strings.parquet"], &["strings.parquet", "emb"]),
        ("no rows", vec!["build", "--input", "no_rows.parquet"], &["no_rows.parquet"]),
        ("id column of floats", vec!["build", "--input", "null_entry.parquet", "--id-column", "emb"], &["null_entry.parquet", "emb"]),
        ("missing id column", vec!["build", "--input", "vectors.parquet", "--id-column", "key"], &["vectors.parquet", "key"]),
        ("non-UTF-8 CSV", vec!["build", "--input", "latin1.csv"], &["latin1.csv"]),
        ("ragged CSV", vec!["build", "--input", "ragged.csv"], &["ragged.csv"]),
        ("a word in a CSV", vec!["build", "--input", "word.csv"], &["word.csv", "three"]),
        ("truncated bvecs", vec!["build", "--input", "short.bvecs"], &["short.bvecs"]),
        ("truncated npy", vec!["build", "--input", "short.npy"], &["short.npy"]),
        ("complex npy", vec!["build", "--input", "complex.npy"], &["complex.npy", "<c8"]),
        ("a directory as input", vec!["build", "--input", "a_dir"], &["a_dir"]),
        ("a directory as output", vec!["build", "--input", "vectors.parquet", "--output", "a_dir"], &["a_dir"]),
        ("output in a missing folder", vec!["build", "--input", "vectors.parquet", "--output", "nowhere/x.lmd"], &["nowhere"]),
        // /sys refuses new files even to root, who may write into any folder that only
        // lacks write permission (the tests may run as root).
        ("output in a read-only folder", vec!["build", "--input", "vectors.parquet", "--output", "/sys/x.lmd"], &["/sys/x.lmd"]),
        ("insert of other dims", vec!["insert", "--input", "q16.fvecs", "--start-rowid", "1000"], &["16", "8"]),
        ("insert of live rowids", vec!["insert", "--input", "vectors.parquet"], &["vectors.parquet", "--upsert"]),
        (
            "insert without a rowid column",
            vec!["insert", "--input", "positional.parquet", "--upsert"],
            &["positional.parquet: no rowid column", "--id-column NAME", "--start-rowid N", "--rowids-from-position"],
        ),
        (
            "insert of fvecs without numbering",
            vec!["insert", "--input", "q8.fvecs"],
            &["q8.fvecs: no rowid column", "as Parquet or CSV", "--start-rowid N", "--rowids-from-position"],
        ),
        (
            "insert of colliding positions",
            vec!["insert", "--input", "q8.fvecs", "--rowids-from-position"],
            &["rowid 0 is already in the index", "positions collide", "--start-rowid N"],
        ),
        (
            "two ways to number rows",
            vec!["insert", "--input", "q8.fvecs", "--rowids-from-position", "--start-rowid", "5"],
            &["--start-rowid", "--rowids-from-position", "pass one"],
        ),
        (
            "numbering a file that has rowids",
            vec!["insert", "--input", "vectors.parquet", "--start-rowid", "5000"],
            &["vectors.parquet: has a rowid column", "drop --start-rowid"],
        ),
        (
            "rowid columns that differ in case",
            vec!["build", "--input", "two_rowids.parquet"],
            &["two_rowids.parquet: columns RowId and ROWID", "--id-column"],
        ),
        ("a word in --rowids", vec!["delete", "--rowids", "7, x8"], &["--rowids: \"x8\" is not a rowid"]),
        ("a word in a rowid list", vec!["delete", "--input", "gone.txt"], &["gone.txt", "seven"]),
        ("a negative rowid to delete", vec!["delete", "--input", "negative.txt"], &["negative.txt", "-4"]),
        (
            "unknown rowids to delete",
            vec!["delete", "--rowids", "1,99999"],
            &["99999", "not live in the index (never inserted, or already deleted", "--ignore-missing"],
        ),
        ("NaN query", vec!["search", "--query", "q_nan.fvecs"], &["q_nan.fvecs"]),
        ("missing index", vec!["search", "--index", "none.lmd", "--query", "q.fvecs"], &["none.lmd"]),
        ("vacuum of a directory", vec!["vacuum", "--index", "a_dir"], &["a_dir"]),
    ];
    let mut tried = 0;
    for (what, args, words) in &cases {
        let err = fails_without_touching_the_index(&w, args);
        for word in *words {
            assert!(err.contains(word), "{what}: the error lacks {word:?}: {err}");
        }
        println!("{what}: {}", err.trim_end());
        tried += 1;
    }
    println!("{tried} further bad inputs, each refused in one line with the index untouched");
}
