//! The progress bar (indicatif on stderr), drawn only when stderr is a terminal; refreshed
//! from the tracker's counters by the main task, never per transaction.

use crate::tracker::Tracker;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar, or nothing.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar counting to `total` finished transactions, if `enabled` and stderr is a terminal.
    pub(crate) fn new(total: u64, enabled: bool, label: &str) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar =
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template("{prefix} {elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        Progress { bar: Some(bar) }
    }

    pub(crate) fn update(&self, tracker: &Tracker) {
        let Some(bar) = &self.bar else {
            return;
        };
        let (dispatched, finished, done, failed) = tracker.counts();
        let secs = tracker.clock.start.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(finished);
        bar.set_message(format!(
            "{:.0} tps, {} in flight, {failed} failed",
            done as f64 / secs,
            dispatched - finished
        ));
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
