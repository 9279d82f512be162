//! Where a command may write its output, and how. A command replaces only what it made:
//! a path that does not exist, an empty file, or a file of the kind it writes (recognised
//! cheaply by its first bytes or its Parquet footer); anything else needs `force`. A file
//! the command reads is never an output, even with `force`. Regular files are replaced
//! atomically (a temporary file renamed over them); character devices, FIFOs and `-`
//! (standard output) are written directly; a symlink is written through, to its target.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::atomic::write_atomically;
use super::journal::{journal_path, open_exclusive, MAGIC as JOURNAL_MAGIC};
use super::vfs::{FileStorage, Storage};
use crate::error::{Error, Result};
use crate::format::MAGIC;
use crate::io::{OutputFormat, MAX_DIMS, PARQUET_MARKER};

/// What a command writes at an output path: how a file it may replace is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// An lmdiskann index (only ever a regular file).
    Index,
    /// Search hits or ground truth as `query, rank, rowid, distance`.
    Hits(OutputFormat),
    /// Ground truth as `.ivecs`.
    Ivecs,
    /// Vectors as Parquet, marked as written by lmdiskann.
    VectorsParquet,
    /// Vectors as `.fvecs`.
    Fvecs,
    /// A JSON run report, which carries a `"lmdiskann"` field.
    Report,
}

impl Written {
    /// What a file of this kind is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Written::Index => "an lmdiskann index",
            Written::Hits(OutputFormat::Csv) => "a hits CSV (first line query,rank,rowid,distance)",
            Written::Hits(OutputFormat::Tsv) => "a hits TSV (first line query, rank, rowid, distance)",
            Written::Hits(OutputFormat::JsonLines) => "hits as JSON lines",
            Written::Hits(OutputFormat::Parquet) => "a hits Parquet file (columns query, rank, rowid, distance)",
            Written::Ivecs => "an .ivecs file",
            Written::VectorsParquet => "a Parquet file lmdiskann wrote",
            Written::Fvecs => "an .fvecs file",
            Written::Report => "an lmdiskann JSON report",
        }
    }

    fn is_binary(self) -> bool {
        !matches!(self, Written::Hits(OutputFormat::Csv | OutputFormat::Tsv | OutputFormat::JsonLines) | Written::Report)
    }
}

/// Why an output path is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("exists and is not {0}; pass --force to replace it, or choose another path")]
    NotOurs(&'static str),
    #[error("is a file this command reads; write the output to another path")]
    OwnInput,
    #[error("an index must be a regular file; name a file path")]
    IndexNotAFile,
    #[error("is a directory; name a file in it")]
    Directory,
    #[error("is not a regular file, a character device or a FIFO; name a file path")]
    Unsupported,
    #[error("is a terminal, and {0} output is binary; redirect it to a file or a pipe")]
    Terminal(&'static str),
}

fn refused(path: &Path, why: Refusal) -> Error {
    Error::Refused { path: path.into(), why }
}

/// An output, checked and resolved.
#[derive(Clone, Debug)]
pub struct Destination {
    kind: Written,
    target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Stdout,
    /// A character device or a FIFO, written in place.
    Stream(PathBuf),
    /// A regular file (a symlink resolved), replaced atomically.
    File(PathBuf),
}

/// Checks that a command writing `kind` may write at `path` (`-` is standard output) and
/// resolves it. `inputs` are the files the command reads (missing ones are skipped);
/// `force` allows replacing a file of another kind, never an input.
pub fn destination(path: &Path, kind: Written, force: bool, inputs: &[&Path]) -> Result<Destination> {
    if path == Path::new("-") {
        return match kind {
            Written::Index => Err(refused(path, Refusal::IndexNotAFile)),
            _ => Ok(Destination { kind, target: Target::Stdout }),
        };
    }
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A new file, or the target a dangling symlink names.
            let target = resolve_symlinks(path).map_err(|e| Error::io(path, "cannot follow the symlink", e))?;
            return Ok(Destination { kind, target: Target::File(target) });
        }
        Err(e) => return Err(Error::io(path, "cannot inspect the output path", e)),
    };
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return Err(refused(path, Refusal::Directory));
    }
    if file_type.is_char_device() || file_type.is_fifo() {
        // Opened by the name given: /dev/stdout's links lead to names like pipe:[123].
        return match kind {
            Written::Index => Err(refused(path, Refusal::IndexNotAFile)),
            _ => Ok(Destination { kind, target: Target::Stream(path.into()) }),
        };
    }
    if !file_type.is_file() {
        return Err(refused(path, Refusal::Unsupported));
    }
    let target = resolve_symlinks(path).map_err(|e| Error::io(path, "cannot follow the symlink", e))?;
    let is_input = |input: &&Path| std::fs::metadata(input).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
    if inputs.iter().any(is_input) {
        return Err(refused(&target, Refusal::OwnInput));
    }
    if !force && !recognised(&target, kind, meta.len()) {
        return Err(refused(&target, Refusal::NotOurs(kind.describe())));
    }
    Ok(Destination { kind, target: Target::File(target) })
}

/// Refuses to replace anything at `path` but an lmdiskann index (unless `force`), and,
/// without `wait`, an index another process is using: checked before a build starts, so
/// it is not refused only at the end. The build takes the lock for real before renaming.
pub fn check_index_destination(storage: &dyn Storage, path: &Path, force: bool, wait: bool) -> Result<()> {
    if !storage.exists(path) {
        return Ok(());
    }
    if !force && !is_index_in(storage, path) {
        return Err(refused(path, Refusal::NotOurs(Written::Index.describe())));
    }
    if !wait {
        drop(open_exclusive(storage, path, false)?);
    }
    Ok(())
}

impl Destination {
    /// Where the output goes: the file (its symlinks resolved), the device, or `-`.
    pub fn path(&self) -> &Path {
        match &self.target {
            Target::Stdout => Path::new("-"),
            Target::Stream(path) | Target::File(path) => path,
        }
    }

    /// Writes the output through `fill`: a regular file atomically, a device, FIFO or
    /// standard output directly. Binary formats refuse a terminal.
    pub fn write<T>(&self, fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>) -> Result<T> {
        match &self.target {
            Target::File(path) => write_atomically(&FileStorage, path, fill),
            Target::Stdout => {
                let out = std::io::stdout();
                refuse_terminal(self.path(), self.kind, out.is_terminal())?;
                write_stream(self.path(), out, fill)
            }
            Target::Stream(path) => {
                let file = OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, "cannot open for writing", e))?;
                refuse_terminal(path, self.kind, file.is_terminal())?;
                write_stream(path, file, fill)
            }
        }
    }
}

fn write_stream<T>(path: &Path, out: impl Write + Send, fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>) -> Result<T> {
    let mut w = BufWriter::with_capacity(1 << 16, out);
    let value = fill(&mut w)?;
    w.flush().map_err(|e| Error::io(path, "cannot write", e))?;
    Ok(value)
}

/// Binary output would garble a terminal.
fn refuse_terminal(path: &Path, kind: Written, is_terminal: bool) -> Result<()> {
    if is_terminal && kind.is_binary() {
        return Err(refused(path, Refusal::Terminal(kind.describe())));
    }
    Ok(())
}

/// `path` with every symlink in its last component followed (the target need not exist).
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // As the kernel does, give up on a loop.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&path)?;
                path = super::vfs::parent(&path).join(link);
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// An index, or a file an interrupted lmdiskann writer left with a hot journal (its
/// header may be half-written until the journal is rolled back).
fn is_index_in(storage: &dyn Storage, path: &Path) -> bool {
    starts_with(storage, path, &MAGIC) || starts_with(storage, &journal_path(path), JOURNAL_MAGIC)
}

fn starts_with(storage: &dyn Storage, path: &Path, magic: &[u8]) -> bool {
    let Ok(file) = storage.open(path, false) else { return false };
    let mut start = vec![0u8; magic.len()];
    file.read_at(&mut start, 0).is_ok() && start == magic
}

/// Whether the regular file `path` (`len` bytes) is empty or of the kind `kind` (an index
/// is never empty); a file that cannot be read is not.
fn recognised(path: &Path, kind: Written, len: u64) -> bool {
    match kind {
        Written::Index => is_index_in(&FileStorage, path),
        _ if len == 0 => true,
        _ => File::open(path).is_ok_and(|file| recognised_file(file, kind, len)),
    }
}

fn recognised_file(file: File, kind: Written, len: u64) -> bool {
    match kind {
        Written::Index => false,
        Written::Hits(OutputFormat::Csv) => first_line(file, 64).is_some_and(|l| l == "query,rank,rowid,distance"),
        Written::Hits(OutputFormat::Tsv) => first_line(file, 64).is_some_and(|l| l == "query\trank\trowid\tdistance"),
        Written::Hits(OutputFormat::JsonLines) => first_line(file, 4096).is_some_and(|l| is_hit_object(&l)),
        Written::Hits(OutputFormat::Parquet) => parquet_marker(file).is_some_and(|(marker, columns)| {
            marker.as_deref() == Some(PARQUET_MARKER.hits) || columns == ["query", "rank", "rowid", "distance"]
        }),
        Written::VectorsParquet => parquet_marker(file).is_some_and(|(marker, _)| marker.as_deref() == Some(PARQUET_MARKER.vectors)),
        Written::Ivecs | Written::Fvecs => records_check_out(&file, len),
        Written::Report => len <= 1 << 20 && is_report(file),
    }
}

/// The first line of `file`, if it ends within `max` bytes.
fn first_line(file: File, max: u64) -> Option<String> {
    let mut line = String::new();
    BufReader::new(file.take(max)).read_line(&mut line).ok()?;
    line.strip_suffix('\n').map(String::from)
}

fn is_hit_object(line: &str) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) else { return false };
    map.len() == 4 && ["query", "rank", "rowid", "distance"].iter().all(|k| map.contains_key(*k))
}

fn is_report(file: File) -> bool {
    match serde_json::from_reader(BufReader::new(file)) {
        Ok(serde_json::Value::Object(map)) => map.get("lmdiskann").is_some_and(|v| v.is_string()),
        _ => false,
    }
}

/// The lmdiskann marker in a Parquet file's key-value metadata, and its column names.
fn parquet_marker(file: File) -> Option<(Option<String>, Vec<String>)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(file).ok()?;
    let meta = reader.metadata().file_metadata();
    let marker = meta.key_value_metadata().and_then(|kv| kv.iter().find(|e| e.key == PARQUET_MARKER.key)).and_then(|e| e.value.clone());
    let columns = meta.schema_descr().columns().iter().map(|c| c.path().string()).collect();
    Some((marker, columns))
}

/// `.fvecs`/`.ivecs`: records of a 4-byte count n then n 4-byte values, all with the same
/// n; the first and last record's counts and the file length must agree.
fn records_check_out(file: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut count = [0u8; 4];
    if file.read_exact_at(&mut count, 0).is_err() {
        return false;
    }
    let n = i32::from_le_bytes(count);
    if n < 1 || n as usize > MAX_DIMS {
        return false;
    }
    let record = 4 * (n as u64 + 1);
    let mut last = [0u8; 4];
    len.is_multiple_of(record) && file.read_exact_at(&mut last, len - record).is_ok() && last == count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{write_fvecs, write_hits, write_ivecs, write_vectors_parquet, Hit};

    fn hits() -> Vec<Hit> {
        vec![Hit { query: 0, rank: 1, rowid: 5, distance: 0.5 }]
    }

    fn written_by(kind: Written, path: &Path) {
        let file = File::create(path).unwrap();
        match kind {
            Written::Hits(format) => write_hits(file, format, &hits()).unwrap(),
            Written::Ivecs => write_ivecs(file, &[vec![1, 2, 3], vec![4, 5, 6]]).unwrap(),
            Written::VectorsParquet => {
                write_vectors_parquet(path, &crate::synthetic::Clustered::standard(4, 1).sample(10, 0), true).unwrap()
            }
            Written::Fvecs => write_fvecs(path, &crate::synthetic::Clustered::standard(4, 1).sample(10, 0)).unwrap(),
            Written::Report => serde_json::to_writer(file, &serde_json::json!({"lmdiskann": "search", "qps": 1})).unwrap(),
            Written::Index => {
                let set = crate::synthetic::Clustered::standard(8, 1).sample(40, 0);
                let opts = crate::BuildOptions { force: true, ..Default::default() };
                crate::index::build_index(set, &opts, path, &|_, _, _| {}).unwrap();
            }
        }
    }

    const KINDS: [Written; 9] = [
        Written::Index,
        Written::Hits(OutputFormat::Csv),
        Written::Hits(OutputFormat::Tsv),
        Written::Hits(OutputFormat::JsonLines),
        Written::Hits(OutputFormat::Parquet),
        Written::Ivecs,
        Written::VectorsParquet,
        Written::Fvecs,
        Written::Report,
    ];

    #[test]
    fn each_kind_replaces_only_its_own_files_empty_files_and_new_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        for kind in KINDS {
            assert!(destination(&dir.path().join("new"), kind, false, &[]).is_ok(), "{kind:?}: a new path");
            std::fs::write(&path, b"").unwrap();
            assert_eq!(destination(&path, kind, false, &[]).is_ok(), kind != Written::Index, "{kind:?}: an empty file");
            for other in KINDS {
                written_by(other, &path);
                // Parquet hits and Parquet vectors differ by their marker; the others by shape.
                let same = other == kind || matches!((kind, other), (Written::Ivecs, Written::Fvecs) | (Written::Fvecs, Written::Ivecs));
                let r = destination(&path, kind, false, &[]);
                assert_eq!(r.is_ok(), same, "{kind:?} over {other:?}: {r:?}");
                if !same {
                    let e = r.unwrap_err().to_string();
                    assert!(e.starts_with(&path.display().to_string()) && e.contains("--force"), "{e}");
                    assert!(destination(&path, kind, true, &[]).is_ok(), "{kind:?} over {other:?} with force");
                }
            }
            std::fs::write(&path, b"a DuckDB database, say").unwrap();
            assert!(destination(&path, kind, false, &[]).is_err(), "{kind:?} over a foreign file");
        }
    }

    #[test]
    fn an_input_is_never_an_output_even_with_force_nor_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("v.parquet");
        std::fs::write(&input, b"").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("v.parquet", &link).unwrap();
        for path in [&input, &link] {
            let e = destination(path, Written::Hits(OutputFormat::Csv), true, &[&input]).unwrap_err();
            assert!(matches!(e, Error::Refused { why: Refusal::OwnInput, .. }), "{e}");
        }
        let missing = dir.path().join("missing");
        assert!(destination(&input, Written::Hits(OutputFormat::Csv), false, &[&missing]).is_ok());
    }

    #[test]
    fn a_symlink_resolves_to_its_target_and_devices_are_streams() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let link = dir.path().join("hits.csv");
        std::os::unix::fs::symlink("sub/real.csv", &link).unwrap();
        let d = destination(&link, Written::Hits(OutputFormat::Csv), false, &[]).unwrap();
        assert_eq!(d.path(), dir.path().join("sub/real.csv"));
        d.write(|w| w.write_all(b"x").map_err(|e| Error::io("w", "w", e))).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"x");
        let null = Path::new("/dev/null");
        assert_eq!(destination(null, Written::Report, false, &[]).unwrap().target, Target::Stream(null.into()));
        assert_eq!(destination(Path::new("-"), Written::Report, false, &[]).unwrap().target, Target::Stdout);
        for path in [null, Path::new("-")] {
            let e = destination(path, Written::Index, true, &[]).unwrap_err();
            assert!(matches!(e, Error::Refused { why: Refusal::IndexNotAFile, .. }), "{e}");
        }
        let e = destination(dir.path(), Written::Report, true, &[]).unwrap_err();
        assert!(matches!(e, Error::Refused { why: Refusal::Directory, .. }), "{e}");
    }

    #[test]
    fn binary_output_refuses_a_terminal_text_does_not() {
        let p = Path::new("-");
        let e = refuse_terminal(p, Written::Hits(OutputFormat::Parquet), true).unwrap_err().to_string();
        assert!(e.starts_with("-: is a terminal") && e.contains("Parquet"), "{e}");
        assert!(refuse_terminal(p, Written::Ivecs, true).is_err());
        assert!(refuse_terminal(p, Written::Hits(OutputFormat::Parquet), false).is_ok());
        assert!(refuse_terminal(p, Written::Hits(OutputFormat::Csv), true).is_ok());
        assert!(refuse_terminal(p, Written::Report, true).is_ok());
    }
}
