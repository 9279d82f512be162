//! Progress bars on stderr, drawn only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lmdiskann::index::Stage;

/// One bar per build stage, created when the stage first reports.
pub struct BuildProgress {
    current: Mutex<Option<(Stage, ProgressBar)>>,
    visible: bool,
}

impl BuildProgress {
    pub fn new() -> Self {
        BuildProgress { current: Mutex::new(None), visible: std::io::stderr().is_terminal() }
    }

    pub fn update(&self, stage: Stage, done: u64, total: u64) {
        if !self.visible {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().map(|(s, _)| *s) != Some(stage) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let label = match stage {
                Stage::Graph => "graph",
                Stage::Write => "write",
            };
            bar.set_style(
                ProgressStyle::with_template("{prefix:>5} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label);
            *current = Some((stage, bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_position(done);
        }
    }

    pub fn finish(&self) {
        if let Some((_, bar)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}
