//! Machine-readable run reports (`--report FILE`) and the process's peak memory.

use std::path::Path;

use anyhow::Context;
use lmdiskann::storage::{destination, Destination, Written};

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

/// Where `--report PATH` goes, checked before the command does its work: a new file, an
/// lmdiskann report, a device or `-`; not one of `inputs` (the files the command reads or
/// writes otherwise).
pub fn report_destination(path: Option<&Path>, force: bool, inputs: &[&Path]) -> anyhow::Result<Option<Destination>> {
    Ok(path.map(|p| destination(p, Written::Report, force, inputs)).transpose()?)
}

/// Writes `value` as pretty JSON to `dest`, marked as a report of `command` (the mark lets
/// a later run recognise the file as one it may replace).
pub fn write_json(dest: &Destination, command: &str, mut value: serde_json::Value) -> anyhow::Result<()> {
    value["lmdiskann"] = command.into();
    let text = serde_json::to_string_pretty(&value)? + "\n";
    dest.write(|w| w.write_all(text.as_bytes()).map_err(|e| lmdiskann::Error::Io { path: dest.path().into(), what: "cannot write", source: e }))
        .with_context(|| format!("{}: cannot write report", dest.path().display()))
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
