//! Machine-readable run reports (`--report FILE`), the process's peak memory, and notes
//! about inputs.

use std::path::Path;

use anyhow::Context;
use lmdiskann::io::RowidSource;

/// Says on stderr when an input's rowids are its row positions, which a table joined back
/// by rowid only matches if it was loaded from that very file, in that order.
pub fn note_rowids(input: &Path, from: RowidSource) {
    let RowidSource::Positions { start, columns } = from else { return };
    let rowids = match start {
        0 => "row positions from 0".to_string(),
        _ => format!("{start} + the row position (from 0)"),
    };
    let hint = if columns { " (pass --id-column NAME to use a column)" } else { "" };
    eprintln!("note: {} has no rowid column; rowids are {rowids}{hint}", input.display());
}

/// Peak resident set size of this process in bytes (VmHWM), when the OS tells it. It
/// counts mapped index pages too, which are the kernel's evictable page cache.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident anonymous memory now (RssAnon): what the process itself allocated, without
/// the mapped index file's pages.
pub fn anon_rss_bytes() -> Option<u64> {
    status_bytes("RssAnon:")
}

fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("{}: cannot write report", path.display()))
}

/// Bytes as a short human string.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
