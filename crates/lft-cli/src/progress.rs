//! Progress display: a bar on an interactive terminal, periodic log lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use lft_sample::{Progress, RunSummary};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Sets up `tracing` on stderr: info by default, debug with -v, warnings only with -q;
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Reports production progress: an indicatif bar when stderr is a terminal, else a log line
/// at most every `LOG_EVERY`.
pub struct RunProgress {
    bar: Option<ProgressBar>,
    total: u64,
    last_log: Instant,
    abort_after: Option<u64>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl RunProgress {
    pub fn new(total: u64, quiet: bool, abort_after: Option<u64>) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} trajectories, eta {eta} {msg}",
                )
                .expect("valid template"),
            );
            bar
        });
        Self {
            bar,
            total,
            last_log: Instant::now(),
            abort_after,
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for RunProgress {
    fn update(&mut self, s: &RunSummary) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.trajectories);
            bar.set_message(format!("acc {:.3}", s.acceptance()));
        } else if self.last_log.elapsed() >= LOG_EVERY || s.trajectories == self.total {
            self.last_log = Instant::now();
            tracing::info!(
                "{}/{} trajectories, acceptance {:.3}, {:.1} s",
                s.trajectories,
                self.total,
                s.acceptance(),
                s.elapsed.as_secs_f64()
            );
        }
        if self.abort_after.is_some_and(|n| s.trajectories >= n) {
            // Test hook: die as a crash would, without unwinding or closing the file.
            std::process::abort();
        }
    }
}
