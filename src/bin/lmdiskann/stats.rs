//! `lmdiskann stats`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use lmdiskann::index::{collect_stats, Index, IndexStats};
use lmdiskann::plural;
use serde_json::json;

use crate::report::{human_bytes, short_f32};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, index_path: &Path) -> anyhow::Result<ExitCode> {
    let index = Index::open(index_path)?;
    let stats = collect_stats(index.file())?;
    // Written through a handle, not println!, so a reader that stops early (`| head`)
    // ends the command quietly instead of panicking it.
    let out = &mut std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&to_json(index_path, &stats, index.default_search_list()))?)?;
    } else {
        print_text(out, index_path, &stats, index.default_search_list())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(path: &Path, s: &IndexStats, search_list: usize) -> serde_json::Value {
    let h = &s.header;
    json!({
        "path": path,
        "format_version": format!("{}.{}", h.version_major, h.version_minor),
        "dims": h.dims,
        "element_type": h.element_type.name(),
        "element_scale": h.element_type.is_integer().then_some(short_f32(h.element_scale)),
        "metric": h.metric.name(),
        "codes": h.code_kind.name(),
        "max_degree": h.max_degree,
        "block_size": h.block_size,
        "build_list": h.build_list,
        "alpha": short_f32(h.alpha),
        "seed": h.seed,
        "default_search_list": search_list,
        "slots": h.slots,
        "live": s.live,
        "tombstoned": s.tombstoned,
        "free": s.free,
        "map_pages": s.map_pages,
        "tombstoned_percent": tombstoned_percent(s),
        "last_vacuum": (h.last_vacuum.at_ms > 0).then(|| json!({
            "at_ms": h.last_vacuum.at_ms,
            "freed": h.last_vacuum.freed,
            "repruned": h.last_vacuum.repruned,
            "took_ms": h.last_vacuum.took_ms,
        })),
        "rolled_back": s.rolled_back,
        "entry_slot": h.entry_slot,
        "generation": h.generation,
        "created_ms": h.created_ms,
        "modified_ms": h.modified_ms,
        "file_bytes": s.file_bytes,
        "bytes_per_vector": s.bytes_per_vector(),
        "raw_vector_bytes": s.raw_vector_bytes(),
        "mean_degree": s.mean_degree(),
        "degree_histogram": s.degree_histogram,
    })
}

fn print_text(out: &mut impl Write, path: &Path, s: &IndexStats, search_list: usize) -> std::io::Result<()> {
    let h = &s.header;
    writeln!(out, "index            {}", path.display())?;
    writeln!(out, "format           {}.{}", h.version_major, h.version_minor)?;
    let scale = if h.element_type.is_integer() && h.element_scale != 1.0 { format!(" (x {})", h.element_scale) } else { String::new() };
    writeln!(out, "vectors          {} x {} dims, {}{scale}, metric {}", s.live, h.dims, h.element_type.name(), h.metric.name())?;
    writeln!(
        out,
        "slots            {} live, {} tombstoned ({:.1}% of nodes), {} free, {} ({})",
        s.live,
        s.tombstoned,
        tombstoned_percent(s),
        s.free,
        plural(s.map_pages, "rowid-map page"),
        plural(h.slots, "slot")
    )?;
    let v = h.last_vacuum;
    if v.at_ms == 0 {
        writeln!(out, "last vacuum      never")?;
    } else {
        writeln!(
            out,
            "last vacuum      {}: freed {}, re-pruned {}, took {:.2} s",
            utc(v.at_ms),
            plural(v.freed, "tombstone"),
            plural(v.repruned, "node"),
            v.took_ms as f64 / 1000.0
        )?;
    }
    if s.rolled_back {
        writeln!(out, "journal          rolled back a change that an earlier command did not finish")?;
    }
    writeln!(out, "codes            {} ({} B per neighbour)", h.code_kind.name(), h.code_kind.code_len(h.dims as usize))?;
    writeln!(out, "block            {} B, max degree {}, entry slot {}", h.block_size, h.max_degree, h.entry_slot)?;
    writeln!(out, "build            L {}, alpha {}, seed {}", h.build_list, h.alpha, h.seed)?;
    writeln!(out, "search default   L {search_list}")?;
    writeln!(
        out,
        "file             {} ({} per vector, {:.2}x the raw f32 vectors)",
        human_bytes(s.file_bytes),
        human_bytes(s.bytes_per_vector() as u64),
        s.bytes_per_vector() / s.raw_vector_bytes() as f64
    )?;
    writeln!(out, "generation       {}", h.generation)?;
    writeln!(out, "mean degree      {:.1}", s.mean_degree())?;
    writeln!(out, "degree histogram (degree: nodes)")?;
    let max = s.degree_histogram.iter().copied().max().unwrap_or(0).max(1);
    for (degree, &count) in s.degree_histogram.iter().enumerate().filter(|(_, c)| **c > 0) {
        let bar = "#".repeat((count * 40).div_ceil(max) as usize);
        writeln!(out, "  {degree:>4}: {count:>9} {bar}")?;
    }
    Ok(())
}

fn tombstoned_percent(s: &IndexStats) -> f64 {
    let nodes = s.live + s.tombstoned;
    if nodes == 0 {
        0.0
    } else {
        100.0 * s.tombstoned as f64 / nodes as f64
    }
}

/// `ms` since the Unix epoch as "YYYY-MM-DD hh:mm:ss UTC" (civil-from-days, Howard Hinnant).
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_795_219_200_000 + 3_723_000), "2026-11-21 01:02:03 UTC");
    }
}
