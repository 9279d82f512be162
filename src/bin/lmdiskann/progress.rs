//! Progress bars on stderr, drawn only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lmdiskann::index::Stage;

/// One bar per stage of a command, created when the stage first reports.
pub struct Progress {
    current: Mutex<Option<(String, ProgressBar)>>,
    visible: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress { current: Mutex::new(None), visible: std::io::stderr().is_terminal() }
    }

    /// Shows `done` of `total` on the bar labelled `label`, which replaces the bar of
    /// another label.
    pub fn update(&self, label: &str, done: u64, total: u64) {
        if !self.visible {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().map(|(l, _)| l.as_str()) != Some(label) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {rate} {eta}")
                    .expect("valid template")
                    .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate(s.pos(), s.elapsed()));
                    })
                    .with_key("eta", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&eta(s.pos(), s.len().unwrap_or(0), s.elapsed()));
                    })
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            *current = Some((label.to_string(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_position(done);
        }
    }

    /// Follows a build's stages.
    pub fn build_stage(&self, stage: Stage, done: u64, total: u64) {
        self.update(&stage_label(stage), done, total);
    }

    pub fn finish(&self) {
        if let Some((_, bar)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}

/// "graph pass 1/2" while the graph is built in two passes, "write" while blocks are.
fn stage_label(stage: Stage) -> String {
    match stage {
        Stage::Graph { passes: 1, .. } => "graph".into(),
        Stage::Graph { pass, passes } => format!("graph pass {pass}/{passes}"),
        Stage::Spill => "read".into(),
        Stage::Sample => "sample".into(),
        Stage::Partition => "partition".into(),
        Stage::PartitionGraph { part, parts } => format!("partition {part}/{parts}"),
        Stage::Merge => "merge".into(),
        Stage::Write => "write".into(),
    }
}

/// The average rate so far, to three significant figures at most ("12345/s", "87.5/s",
/// "0.52/s"); empty before a rate can be told.
fn rate(done: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if done == 0 || seconds <= 0.0 {
        return String::new();
    }
    let per_second = done as f64 / seconds;
    match per_second {
        r if r >= 100.0 => format!("{r:.0}/s"),
        r if r >= 10.0 => format!("{r:.1}/s"),
        r => format!("{r:.2}/s"),
    }
}

/// Time left at the average rate so far, once that says something: after a second and
/// 2% of the work (before that it would read 0s or swing wildly); empty until then.
fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) || done * 50 < total || done == 0 || done >= total {
        return String::new();
    }
    let left = (elapsed.as_secs_f64() * (total - done) as f64 / done as f64).round() as u64;
    match left {
        s if s < 60 => format!("ETA {s}s"),
        s if s < 3600 => format!("ETA {}m {:02}s", s / 60, s % 60),
        s => format!("ETA {}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_name_the_pass_and_count_vectors_once() {
        assert_eq!(stage_label(Stage::Graph { pass: 1, passes: 2 }), "graph pass 1/2");
        assert_eq!(stage_label(Stage::Graph { pass: 2, passes: 2 }), "graph pass 2/2");
        assert_eq!(stage_label(Stage::Graph { pass: 1, passes: 1 }), "graph");
        assert_eq!(stage_label(Stage::Write), "write");
    }

    #[test]
    fn rates_keep_three_significant_figures_at_most() {
        let secs = Duration::from_secs;
        assert_eq!(rate(123_456, secs(10)), "12346/s");
        assert_eq!(rate(875, secs(10)), "87.5/s");
        assert_eq!(rate(1, secs(3)), "0.33/s");
        assert_eq!(rate(0, secs(3)), "");
        assert_eq!(rate(5, Duration::ZERO), "");
    }

    #[test]
    fn the_eta_waits_until_it_means_something() {
        let secs = Duration::from_secs;
        assert_eq!(eta(0, 20_000, secs(5)), "", "nothing done yet");
        assert_eq!(eta(5_000, 20_000, Duration::from_millis(300)), "", "too early");
        assert_eq!(eta(100, 20_000, secs(2)), "", "under 2% done");
        assert_eq!(eta(5_000, 20_000, secs(10)), "ETA 30s");
        assert_eq!(eta(1_000, 20_000, secs(10)), "ETA 3m 10s");
        assert_eq!(eta(1_000, 20_000, secs(600)), "ETA 3h 10m");
        assert_eq!(eta(20_000, 20_000, secs(10)), "", "done");
    }
}
