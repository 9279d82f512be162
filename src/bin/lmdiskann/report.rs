//! Machine-readable run reports (`--report FILE`), the process's peak memory, and notes
//! about inputs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use lmdiskann::io::RowidSource;
use lmdiskann::storage::{destination, Destination, Written};

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

/// Bytes this process has had read from storage so far (`read_bytes` of /proc/self/io):
/// page faults on the mapped index that missed the page cache, and read-ahead, but not
/// pages the cache already held.
pub fn disk_read_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("read_bytes:"))?.trim().parse().ok()
}

fn status_bytes(field: &str) -> Option<u64> {
    field_bytes(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

fn field_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The peaks of this process's own memory (RssAnon: what it allocated) and of the file
/// pages it holds resident (RssFile + RssShmem: its code and any mapped file), sampled
/// every few milliseconds by a background thread until [`MemoryPeaks::finish`]. The kernel
/// keeps a peak only of their sum (VmHWM), which is what `peak_rss_bytes` reports.
pub struct MemoryPeaks {
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<Option<(u64, u64)>>,
}

impl MemoryPeaks {
    pub fn start() -> MemoryPeaks {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peaks: Option<(u64, u64)> = None;
            loop {
                let status = std::fs::read_to_string("/proc/self/status").ok()?;
                let anon = field_bytes(&status, "RssAnon:")?;
                let file = field_bytes(&status, "RssFile:")? + field_bytes(&status, "RssShmem:").unwrap_or(0);
                let (a, f) = peaks.unwrap_or_default();
                peaks = Some((a.max(anon), f.max(file)));
                if stopped.load(Ordering::Relaxed) {
                    return peaks;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        MemoryPeaks { stop, sampler }
    }

    /// (process memory, file pages) at their peaks, when /proc tells them.
    pub fn finish(self) -> Option<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().ok().flatten()
    }
}

/// `x` as the f64 that prints as `x` prints (1.2, not the 1.2000000476837158 a plain
/// widening gives), for JSON.
pub fn short_f32(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x.into())
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
    dest.write(|w| {
        w.write_all(text.as_bytes()).map_err(|e| lmdiskann::Error::Io { path: dest.path().into(), what: "cannot write", source: e })
    })
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
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
