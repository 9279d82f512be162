//! What `insert`, `delete` and `vacuum` share: the flags of a writer and the summary of
//! what a change did.

use std::path::Path;
use std::str::FromStr;

use lmdiskann::index::{UpdateOptions, UpdateReport, DEFAULT_AUTO_VACUUM};
use lmdiskann::plural;
use lmdiskann::storage::{scratch_path, tmp_path};
use lmdiskann::Error;
use serde_json::json;

use crate::report::human_bytes;

/// `--auto-vacuum PCT|off`.
#[derive(Clone, Copy, Debug)]
pub struct AutoVacuum(Option<f64>);

impl FromStr for AutoVacuum {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "off" {
            return Ok(AutoVacuum(None));
        }
        match s.trim_end_matches('%').parse::<f64>() {
            Ok(pct) if (0.0..=100.0).contains(&pct) => Ok(AutoVacuum(Some(pct))),
            _ => Err(format!("`{s}` is not a percentage from 0 to 100 or `off`")),
        }
    }
}

#[derive(clap::Args)]
pub struct WriteArgs {
    /// Wait while another process uses the index, instead of failing at once.
    #[arg(long)]
    wait: bool,
    /// Vacuum right after the change when tombstones exceed PCT percent of the nodes
    /// (`off`: only `lmdiskann vacuum` does).
    #[arg(long, value_name = "PCT|off", default_value_t = AutoVacuum(Some(DEFAULT_AUTO_VACUUM)))]
    auto_vacuum: AutoVacuum,
}

impl std::fmt::Display for AutoVacuum {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.0 {
            Some(pct) => write!(f, "{pct}"),
            None => f.write_str("off"),
        }
    }
}

impl WriteArgs {
    pub fn options(&self) -> UpdateOptions {
        UpdateOptions { wait: self.wait, auto_vacuum: self.auto_vacuum.0, now_ms: crate::now_ms() }
    }
}

/// `wait` alone, for `vacuum` (which has no auto-vacuum).
pub fn wait_only(wait: bool) -> UpdateOptions {
    UpdateOptions { wait, auto_vacuum: None, now_ms: crate::now_ms() }
}

/// The error of a changing command: the index is unchanged, unless the library could not
/// undo a failed write (its error then says what the index holds).
pub fn failed(index: &Path, what: &str, err: Error) -> anyhow::Error {
    let unchanged = if matches!(err, Error::NotUndone { .. }) { "" } else { ", the index is unchanged" };
    anyhow::Error::new(err).context(format!("{}: {what} failed{unchanged}", index.display()))
}

/// The lines every changing command prints on stderr after its own summary.
pub fn print_outcome(path: &Path, report: &UpdateReport) {
    if report.rolled_back {
        eprintln!("note: {}: rolled back a change that an earlier command did not finish", path.display());
    }
    if report.removed_tmp {
        note_removed_tmp(path);
    }
    if let Some(v) = report.vacuum {
        eprintln!(
            "vacuum: freed {}, re-pruned {} in {:.2} s",
            plural(v.freed, "tombstone"),
            plural(v.repruned, "node"),
            v.took_ms as f64 / 1000.0
        );
    }
    if let Some((before, after)) = report.compacted {
        eprintln!("compacted: {} -> {}", human_bytes(before), human_bytes(after));
    }
    if let Some(h) = &report.header {
        eprintln!(
            "{}: {} live, {} tombstoned, {}, {}",
            path.display(),
            h.live,
            h.tombstoned,
            plural(h.free_slots, "free slot"),
            human_bytes(h.file_len())
        );
    }
}

/// Says that opening the index at `path` removed the temporary file an interrupted
/// command had left beside it.
pub fn note_removed_tmp(path: &Path) {
    eprintln!("note: {}: removed {}, a temporary file an interrupted command left", path.display(), tmp_path(path).display());
}

pub fn note_removed_build_folder(path: &Path) {
    eprintln!("note: {}: removed {}, a temporary folder an interrupted build left", path.display(), scratch_path(path).display());
}

/// The JSON summary of a change (`--report`).
pub fn to_json(path: &Path, report: &UpdateReport, seconds: f64) -> serde_json::Value {
    let h = report.header.as_ref();
    json!({
        "index": path,
        "inserted": report.inserted,
        "replaced": report.replaced,
        "deleted": report.deleted,
        "missing": report.missing,
        "seconds": seconds,
        "vectors_per_second": report.inserted as f64 / seconds.max(1e-9),
        "rolled_back": report.rolled_back,
        "reconnected": report.reconnected,
        "removed_tmp": report.removed_tmp,
        "vacuum": report.vacuum.map(|v| json!({"freed": v.freed, "repruned": v.repruned, "seconds": v.took_ms as f64 / 1000.0})),
        "compacted": report.compacted.map(|(before, after)| json!({"before_bytes": before, "after_bytes": after})),
        "live": h.map(|h| h.live),
        "tombstoned": h.map(|h| h.tombstoned),
        "free": h.map(|h| h.free_slots),
        "file_bytes": h.map(|h| h.file_len()),
        "peak_rss_bytes": crate::report::peak_rss_bytes(),
    })
}
