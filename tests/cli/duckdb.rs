//! The DuckDB round trip, against the real DuckDB (its Python module): DuckDB writes the
//! Parquet we build from, reads every hits format we write, and joins the hits back to
//! the table they came from.
//!
//! The Python interpreter is `$LMDISKANN_PYTHON`, else `<repo>/.venv/bin/python`;
//! `scripts/test.sh` creates that venv with a pinned DuckDB. Without DuckDB these tests
//! fail (they never skip): run `bash scripts/test.sh`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::synthetic::Clustered;
use serde_json::Value;

use crate::util::{text, Workdir};

/// A Python that can `import duckdb`, found once per test binary; panics (never skips)
/// when there is none.
fn duckdb_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let (python, origin) = match std::env::var_os("LMDISKANN_PYTHON") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), "$LMDISKANN_PYTHON"),
            _ => (Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"), "<repo>/.venv/bin/python (LMDISKANN_PYTHON is unset)"),
        };
        let how = "run `bash scripts/test.sh` (it creates .venv with a pinned DuckDB and sets \
                   LMDISKANN_PYTHON), or point LMDISKANN_PYTHON at a python with the duckdb module";
        match Command::new(&python).args(["-c", "import duckdb; print(duckdb.__version__)"]).output() {
            Ok(out) if out.status.success() => python,
            Ok(out) => panic!(
                "the DuckDB tests need a python with `import duckdb`; {} from {origin} cannot import it:\n{}\n{how}",
                python.display(),
                text(&out.stderr).trim_end()
            ),
            Err(err) => {
                panic!("the DuckDB tests need a python with `import duckdb`; cannot run {} from {origin}: {err}\n{how}", python.display())
            }
        }
    })
}

const PRELUDE: &str = r#"
import json, sys
import duckdb

def emit(obj):
    json.dump(obj, sys.stdout)
"#;

/// Runs a DuckDB Python script in the work folder and parses the JSON it prints.
pub(crate) fn duckdb(work: &Workdir, name: &str, script: &str) -> Value {
    let path = work.path(&format!("{name}.py"));
    std::fs::write(&path, format!("{PRELUDE}\n{script}")).expect("write python script");
    let out = Command::new(duckdb_python())
        .arg(&path)
        .current_dir(work.root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", duckdb_python().display()));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "DuckDB script {name} failed:\n--- script ---\n{script}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        text(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("DuckDB script {name} printed no JSON ({e}):\n{stdout}"))
}

/// One hit as read back through DuckDB: (query, rank, rowid, reported distance).
#[derive(Clone, Debug, PartialEq)]
struct Hit {
    query: usize,
    rank: usize,
    rowid: u64,
    distance: f64,
}

fn hit(row: &Value) -> Hit {
    let int = |i: usize| row[i].as_u64().unwrap_or_else(|| panic!("column {i} of {row} is not a non-negative integer"));
    Hit {
        query: int(0) as usize,
        rank: int(1) as usize,
        rowid: int(2),
        distance: row[3].as_f64().unwrap_or_else(|| panic!("column 3 of {row} is not a number")),
    }
}

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
}

pub(crate) fn ids(v: &Value) -> Vec<u64> {
    rows(v).iter().map(|x| x.as_u64().unwrap_or_else(|| panic!("not a rowid: {x}"))).collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-6)
}

/// Ranks run 1..=k per query, in query order, and distances never decrease within a query.
fn check_ordering(hits: &[Hit], queries: usize, k: usize) {
    assert_eq!(hits.len(), queries * k, "expected {queries} queries x {k} hits, got {} hits", hits.len());
    for (i, h) in hits.iter().enumerate() {
        assert_eq!((h.query, h.rank), (i / k, i % k + 1), "hit {i} out of order: {h:?}");
    }
    for pair in hits.windows(2) {
        if pair[0].query == pair[1].query {
            assert!(
                pair[0].distance <= pair[1].distance,
                "hits not ordered by distance within query {}: rank {} has {} but rank {} has {}",
                pair[0].query,
                pair[0].rank,
                pair[0].distance,
                pair[1].rank,
                pair[1].distance
            );
        }
    }
}

/// Fraction of DuckDB's exact top-k that our hits found, over all queries.
fn recall(hits: &[Hit], exact: &[Vec<u64>]) -> f64 {
    let mut found = 0;
    let mut total = 0;
    for (q, truth) in exact.iter().enumerate() {
        let ours: HashSet<u64> = hits.iter().filter(|h| h.query == q).map(|h| h.rowid).collect();
        found += truth.iter().filter(|r| ours.contains(r)).count();
        total += truth.len();
    }
    found as f64 / total as f64
}

/// Seeded base vectors as `raw.parquet` (no rowid column, for DuckDB to load) and
/// queries as `q.parquet` (for DuckDB) and `q.fvecs` (for lmdiskann).
fn seeded_files(work: &Workdir, n: usize, dims: usize, nq: usize, seed: u64) {
    let data = Clustered::standard(dims, seed);
    let base = data.sample(n, 0);
    let queries = data.sample(nq, 1);
    write_vectors_parquet(&work.path("raw.parquet"), &base, false).expect("write raw.parquet");
    write_vectors_parquet(&work.path("q.parquet"), &queries, true).expect("write q.parquet");
    write_fvecs(&work.path("q.fvecs"), &queries).expect("write q.fvecs");
}

#[test]
fn duckdb_round_trip_in_shuffled_order_matches_exact_search() {
    let work = Workdir::new();
    let (n, dims, nq, k) = (3000usize, 32usize, 20usize, 10usize);
    seeded_files(&work, n, dims, nq, 5);

    // A user's table: FLOAT[32] embeddings plus a label, rowids with gaps after a
    // DELETE, exported the usual way but in a (deterministically) shuffled order.
    let made = duckdb(
        &work,
        "make_items",
        r#"
con = duckdb.connect('items.duckdb')
con.execute("""
    CREATE TABLE items AS
    SELECT emb::FLOAT[32] AS emb, 'item-' || file_row_number AS label
    FROM read_parquet('raw.parquet', file_row_number = true)
    ORDER BY file_row_number
""")
con.execute("DELETE FROM items WHERE rowid % 7 = 3")
con.execute("COPY (SELECT rowid, emb FROM items ORDER BY hash(rowid)) TO 'vectors.parquet'")
rows = con.execute("SELECT count(*) FROM items").fetchone()[0]
exported = [r[0] for r in con.execute("SELECT rowid FROM read_parquet('vectors.parquet')").fetchall()]
con.close()
emit({"rows": rows, "exported": exported})
"#,
    );
    let kept = (0..n as u64).filter(|r| r % 7 != 3).count();
    assert_eq!(made["rows"].as_u64(), Some(kept as u64), "rows left in items after the DELETE: {}", made["rows"]);
    let exported = ids(&made["exported"]);
    assert_eq!(exported.len(), kept, "rows in vectors.parquet");
    let mut sorted = exported.clone();
    sorted.sort_unstable();
    assert_ne!(exported, sorted, "the export should be shuffled (ORDER BY hash(rowid)): {:?}", &exported[..10]);
    assert_eq!(sorted, (0..n as u64).filter(|r| r % 7 != 3).collect::<Vec<_>>(), "exported rowids");

    work.ok(&["build", "--input", "vectors.parquet"]);
    assert!(work.path("index.lmd").is_file(), "build should write ./index.lmd");
    work.ok(&["search", "--query", "q.fvecs", "-k", "10", "--output", "hits.parquet"]);

    let checked = duckdb(
        &work,
        "check_hits",
        r#"
con = duckdb.connect('items.duckdb', read_only=True)
queries = "(SELECT rowid AS query, emb::FLOAT[32] AS emb FROM read_parquet('q.parquet'))"
n_queries = con.execute(f"SELECT count(*) FROM {queries}").fetchone()[0]
exact = []
for q in range(n_queries):
    top = con.execute(f"""
        SELECT i.rowid FROM items i, (SELECT emb FROM {queries} WHERE query = $q) q
        ORDER BY array_distance(i.emb, q.emb), i.rowid LIMIT 10
    """, {"q": q}).fetchall()
    exact.append([r[0] for r in top])
hits = con.execute("SELECT count(*) FROM read_parquet('hits.parquet')").fetchone()[0]
missing = [r[0] for r in con.execute("""
    SELECT h.rowid FROM read_parquet('hits.parquet') h ANTI JOIN items i ON i.rowid = h.rowid
""").fetchall()]
joined = con.execute(f"""
    SELECT h.query, h.rank, h.rowid, h.distance, i.label, array_distance(i.emb, q.emb) AS duckdb_distance
    FROM read_parquet('hits.parquet') h
    JOIN items i ON i.rowid = h.rowid
    JOIN {queries} q ON q.query = h.query
    ORDER BY h.query, h.rank
""").fetchall()
emit({"exact": exact, "hits": hits, "missing": missing, "joined": [list(r) for r in joined]})
"#,
    );

    let exact: Vec<Vec<u64>> = rows(&checked["exact"]).iter().map(ids).collect();
    assert_eq!(exact.len(), nq, "DuckDB exact results per query");
    assert!(exact.iter().all(|t| t.len() == k), "DuckDB exact top-{k} lists: {exact:?}");
    assert_eq!(checked["hits"].as_u64(), Some((nq * k) as u64), "rows in hits.parquet: {}", checked["hits"]);
    assert!(
        ids(&checked["missing"]).is_empty(),
        "hits refer to rowids that are not in items (deleted rows have rowid % 7 == 3): {}",
        checked["missing"]
    );
    let joined = rows(&checked["joined"]);
    assert_eq!(joined.len(), nq * k, "the join of hits to items must keep every hit");
    let hits: Vec<Hit> = joined.iter().map(hit).collect();
    check_ordering(&hits, nq, k);
    for (h, row) in hits.iter().zip(joined) {
        assert_ne!(h.rowid % 7, 3, "hit {h:?} is a deleted row");
        assert_eq!(row[4].as_str(), Some(format!("item-{}", h.rowid).as_str()), "label joined for hit {h:?}");
        let theirs = row[5].as_f64().unwrap_or_else(|| panic!("no DuckDB distance in {row}"));
        assert!(close(h.distance, theirs, 1e-3), "hit {h:?}: lmdiskann distance {} vs DuckDB array_distance {theirs}", h.distance);
    }
    let r = recall(&hits, &exact);
    assert!(r >= 0.95, "recall@{k} against DuckDB's exact top-{k} is {r:.3} < 0.95; ours {hits:?}, exact {exact:?}");
}

#[test]
fn duckdb_reads_every_output_format() {
    let work = Workdir::new();
    let (nq, k) = (8usize, 10usize);
    work.dataset(600, 16, nq);
    work.ok(&["build", "--input", "vectors.parquet"]);
    let files = ["hits.csv", "hits.tsv", "hits.jsonl", "hits.parquet"];
    for file in files {
        work.ok(&["search", "--query", "q.fvecs", "-k", "10", "--output", file]);
    }
    let read = duckdb(
        &work,
        "read_formats",
        r#"
con = duckdb.connect()
sources = {
    "hits.csv": "read_csv('hits.csv')",
    "hits.tsv": "read_csv('hits.tsv', delim = '\t')",
    "hits.jsonl": "read_json('hits.jsonl')",
    "hits.parquet": "read_parquet('hits.parquet')",
}
out = {}
for name, source in sources.items():
    rel = con.sql(f"SELECT * FROM {source}")
    rows = con.execute(f"SELECT query, rank, rowid, distance FROM {source} ORDER BY query, rank").fetchall()
    out[name] = {"columns": rel.columns, "types": [str(t) for t in rel.types], "rows": [list(r) for r in rows]}
emit(out)
"#,
    );
    let mut all: Vec<(&str, Vec<Hit>)> = Vec::new();
    for file in files {
        let got = &read[file];
        let columns: Vec<&str> = rows(&got["columns"]).iter().map(|c| c.as_str().unwrap_or("?")).collect();
        assert_eq!(columns, ["query", "rank", "rowid", "distance"], "{file}: columns as DuckDB reads them (types {})", got["types"]);
        let hits: Vec<Hit> = rows(&got["rows"]).iter().map(hit).collect();
        assert_eq!(hits.len(), nq * k, "{file}: rows as DuckDB reads them");
        check_ordering(&hits, nq, k);
        all.push((file, hits));
    }
    let (parquet, reference) = &all[all.len() - 1];
    for (file, hits) in &all {
        let a: Vec<(usize, usize, u64)> = hits.iter().map(|h| (h.query, h.rank, h.rowid)).collect();
        let b: Vec<(usize, usize, u64)> = reference.iter().map(|h| (h.query, h.rank, h.rowid)).collect();
        assert_eq!(a, b, "(query, rank, rowid) in {file} vs {parquet}");
        for (x, y) in hits.iter().zip(reference) {
            assert!(close(x.distance, y.distance, 1e-5), "distance in {file} {x:?} vs {parquet} {y:?}");
        }
    }
}

#[test]
fn duckdb_rowid_is_file_row_number_without_rowid_column() {
    let work = Workdir::new();
    let (n, dims, nq, k) = (1500usize, 24usize, 10usize, 5usize);
    seeded_files(&work, n, dims, nq, 9);

    // Only `emb` is exported, shuffled and with rows deleted: table rowids and file
    // positions disagree, and the index must use the file position.
    let made = duckdb(
        &work,
        "export_emb",
        r#"
con = duckdb.connect()
con.execute("CREATE TABLE items AS SELECT emb::FLOAT[24] AS emb FROM read_parquet('raw.parquet')")
con.execute("DELETE FROM items WHERE rowid % 5 = 1")
con.execute("COPY (SELECT emb FROM items ORDER BY hash(rowid)) TO 'emb_only.parquet'")
columns = con.sql("SELECT * FROM read_parquet('emb_only.parquet')").columns
rows = con.execute("SELECT count(*) FROM read_parquet('emb_only.parquet')").fetchone()[0]
emit({"columns": columns, "rows": rows})
"#,
    );
    assert_eq!(made["columns"], serde_json::json!(["emb"]), "emb_only.parquet columns");
    let rows_in_file = made["rows"].as_u64().unwrap_or_else(|| panic!("row count: {}", made["rows"]));
    assert_eq!(rows_in_file, (0..n).filter(|r| r % 5 != 1).count() as u64, "rows in emb_only.parquet");

    work.ok(&["build", "--input", "emb_only.parquet", "--output", "emb.lmd"]);
    work.ok(&["search", "--index", "emb.lmd", "--query", "q.fvecs", "-k", "5", "--output", "hits.parquet"]);

    let checked = duckdb(
        &work,
        "check_positions",
        r#"
con = duckdb.connect()
con.execute("""
    CREATE VIEW v AS
    SELECT file_row_number AS pos, emb::FLOAT[24] AS emb
    FROM read_parquet('emb_only.parquet', file_row_number = true)
""")
con.execute("CREATE VIEW q AS SELECT rowid AS query, emb::FLOAT[24] AS emb FROM read_parquet('q.parquet')")
joined = con.execute("""
    SELECT h.query, h.rank, h.rowid, h.distance, array_distance(v.emb, q.emb)
    FROM read_parquet('hits.parquet') h
    JOIN v ON v.pos = h.rowid
    JOIN q ON q.query = h.query
    ORDER BY h.query, h.rank
""").fetchall()
exact = []
for query in range(con.execute("SELECT count(*) FROM q").fetchone()[0]):
    top = con.execute("""
        SELECT v.pos FROM v, (SELECT emb FROM q WHERE query = $q) q
        ORDER BY array_distance(v.emb, q.emb), v.pos LIMIT 5
    """, {"q": query}).fetchall()
    exact.append([r[0] for r in top])
emit({"joined": [list(r) for r in joined], "exact": exact})
"#,
    );
    let joined = rows(&checked["joined"]);
    assert_eq!(joined.len(), nq * k, "every hit rowid must be a file_row_number of emb_only.parquet (0..{rows_in_file})");
    let hits: Vec<Hit> = joined.iter().map(hit).collect();
    check_ordering(&hits, nq, k);
    for (h, row) in hits.iter().zip(joined) {
        let theirs = row[4].as_f64().unwrap_or_else(|| panic!("no DuckDB distance in {row}"));
        assert!(
            close(h.distance, theirs, 1e-3),
            "hit {h:?}: lmdiskann distance {} vs DuckDB array_distance of the vector at file_row_number {}: {theirs}",
            h.distance,
            h.rowid
        );
    }
    let exact: Vec<Vec<u64>> = rows(&checked["exact"]).iter().map(ids).collect();
    let r = recall(&hits, &exact);
    assert!(r >= 0.9, "recall@{k} against DuckDB's exact top-{k} by file_row_number is {r:.3}; ours {hits:?}, exact {exact:?}");
}

#[test]
fn duckdb_exports_with_nulls_or_wrong_types_are_refused_clearly() {
    let work = Workdir::new();
    duckdb(
        &work,
        "bad_exports",
        r#"
con = duckdb.connect()
con.execute("CREATE TABLE fixed AS SELECT * FROM (VALUES ([1, 2, 3]::FLOAT[3]), (NULL), ([4, 5, 6]::FLOAT[3])) t(emb)")
con.execute("COPY (SELECT rowid, emb FROM fixed) TO 'null_fixed.parquet'")
con.execute("CREATE TABLE varlen AS SELECT * FROM (VALUES ([1, 2]::FLOAT[]), (NULL)) t(emb)")
con.execute("COPY (SELECT emb FROM varlen) TO 'null_list.parquet'")
con.execute("COPY (SELECT 'a' AS name, 3 AS emb) TO 'no_list.parquet'")
con.execute("COPY (SELECT [1, 2]::INTEGER[] AS emb) TO 'int_list.parquet'")
con.execute("COPY (SELECT * FROM (VALUES (1, [1, 2]::FLOAT[]), (2, [3, 4, 5]::FLOAT[])) t(rowid, emb)) TO 'mixed.parquet'")
con.execute("COPY (SELECT * FROM (VALUES (3, [1, 2]::FLOAT[2]), (-5, [3, 4]::FLOAT[2])) t(rowid, emb)) TO 'negative.parquet'")
emit("ok")
"#,
    );
    let cases: [(&str, &[&str]); 6] = [
        ("null_fixed.parquet", &["row 1", "NULL", "WHERE emb IS NOT NULL"]),
        ("null_list.parquet", &["row 1", "NULL"]),
        ("no_list.parquet", &["no vector column", "--vector-column"]),
        ("int_list.parquet", &["unsupported", "emb", "Float32"]),
        ("mixed.parquet", &["row 1", "3", "2"]),
        ("negative.parquet", &["row 1", "-5"]),
    ];
    for (file, expect) in cases {
        let err = work.fails(&["build", "--input", file]);
        for e in expect {
            assert!(err.contains(file) && err.contains(e), "{file}: expected {e:?} in: {err}");
        }
        assert!(!work.path("index.lmd").exists(), "{file}: an index was written");
    }
}

#[test]
fn duckdb_csv_export_gives_the_same_index_answers_as_its_parquet_export() {
    let work = Workdir::new();
    seeded_files(&work, 1500, 16, 10, 9);
    // The same table exported twice, in shuffled order with rowid gaps and a text column
    // holding commas: once as CSV (vectors as "[...]" literals), once as Parquet.
    duckdb(
        &work,
        "export_csv",
        r#"
con = duckdb.connect()
con.execute("CREATE TABLE items AS SELECT emb::FLOAT[16] AS emb, 'a, b' AS note FROM read_parquet('raw.parquet')")
con.execute("DELETE FROM items WHERE rowid % 5 = 1")
con.execute("COPY (SELECT rowid, emb, note FROM items ORDER BY hash(rowid)) TO 'items.csv'")
con.execute("COPY (SELECT rowid, emb FROM items ORDER BY hash(rowid)) TO 'items.parquet'")
emit({})
"#,
    );
    work.ok(&["groundtruth", "--input", "items.csv", "--query", "q.fvecs", "-k", "10", "-o", "gt-csv.ivecs"]);
    work.ok(&["groundtruth", "--input", "items.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt-parquet.ivecs"]);
    assert_eq!(std::fs::read(work.path("gt-csv.ivecs")).unwrap(), std::fs::read(work.path("gt-parquet.ivecs")).unwrap());
    work.ok(&["build", "--input", "items.csv", "--output", "csv.lmd"]);
    work.ok(&["build", "--input", "items.parquet", "--output", "parquet.lmd"]);
    let from_csv = work.ok(&["search", "--index", "csv.lmd", "--query", "q.fvecs"]);
    assert_eq!(from_csv, work.ok(&["search", "--index", "parquet.lmd", "--query", "q.fvecs"]));
}

#[test]
fn duckdb_tinyint_utinyint_and_double_arrays_keep_their_type() {
    let work = Workdir::new();
    duckdb(
        &work,
        "typed_exports",
        r#"
con = duckdb.connect()
# The first two values make every row distinct (so each must find itself); the rest vary.
con.execute("CREATE TABLE t AS SELECT i, [CASE j WHEN 0 THEN i % 200 - 100 WHEN 1 THEN (i // 200) * 100 - 50 ELSE (i * 7 + j * 13) % 200 - 100 END FOR j IN range(16)] AS v FROM range(300) r(i)")
con.execute("COPY (SELECT v::TINYINT[16] AS emb FROM t ORDER BY i) TO 'i8.parquet'")
con.execute("COPY (SELECT [x + 100 FOR x IN v]::UTINYINT[16] AS emb FROM t ORDER BY i) TO 'u8.parquet'")
con.execute("COPY (SELECT v::DOUBLE[16] AS emb FROM t ORDER BY i) TO 'f64.parquet'")
emit("ok")
"#,
    );
    let mut answers = Vec::new();
    for (file, stored) in [("i8.parquet", "i8"), ("u8.parquet", "u8"), ("f64.parquet", "f32")] {
        let index = format!("{file}.lmd");
        let out = work.cmd(&["build", "--input", file, "--output", &index]).output().unwrap();
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        let stats: Value = serde_json::from_str(&work.ok(&["stats", "--index", &index, "--json"])).unwrap();
        assert_eq!(
            (stats["element_type"].as_str(), stats["element_scale"].as_f64()),
            (Some(stored), (stored != "f32").then_some(1.0)),
            "{file}"
        );
        // Every row finds itself: the stored integers are the exported ones.
        work.ok(&["search", "--index", &index, "--query", file, "-k", "1", "--output", "self.csv"]);
        let hits = std::fs::read_to_string(work.path("self.csv")).unwrap();
        let found: Vec<(u64, f64)> = hits
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[2].parse().unwrap(), f[3].parse().unwrap())
            })
            .collect();
        assert_eq!(found.len(), 300, "{file}");
        assert!(
            found.iter().enumerate().all(|(q, (rowid, d))| *rowid == q as u64 && *d == 0.0),
            "{file}: a row did not find itself at distance 0"
        );
        answers.push(found);
    }
    assert_eq!(answers[0], answers[2], "i8 and f64 copies of the same integers answer differently");
}
