//! Machine-readable run reports (`--report FILE`) and the process's peak memory.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

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
