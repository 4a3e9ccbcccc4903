//! Progress display: a bar on an interactive terminal, periodic log lines otherwise; and the
//! log lines of a run's events (thermalisation, resuming).

use indicatif::{ProgressBar, ProgressStyle};
use lft_io::ChainSettings;
use lft_sample::{Progress, RunEvent, RunObserver, RunSummary};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tracing::info;

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

/// Reports a run: an indicatif bar when stderr is a terminal, else a log line at most every
/// `LOG_EVERY`; `unit` names the steps ("trajectories", "configurations").
pub struct RunProgress {
    bar: Option<ProgressBar>,
    unit: &'static str,
    total: u64,
    last_log: Instant,
    abort_after: Option<u64>,
    /// Log each chain's frozen step size after thermalisation (when it was tuned).
    pub log_settings: bool,
    /// Show the acceptance (not for annealing passes, whose records are all "accepted").
    pub show_acceptance: bool,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl RunProgress {
    pub fn new(unit: &'static str, abort_after: Option<u64>) -> Self {
        Self {
            bar: None,
            unit,
            total: 0,
            last_log: Instant::now(),
            abort_after,
            log_settings: false,
            show_acceptance: true,
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
        let acceptance = if self.show_acceptance {
            format!(", acceptance {:.3}", s.acceptance())
        } else {
            String::new()
        };
        if let Some(bar) = &self.bar {
            bar.set_position(s.steps);
            bar.set_message(acceptance.trim_start_matches(", ").to_string());
        } else if self.last_log.elapsed() >= LOG_EVERY || s.steps == self.total {
            self.last_log = Instant::now();
            info!(
                "{}/{} {}{acceptance}, {:.1} s",
                s.steps,
                self.total,
                self.unit,
                s.elapsed.as_secs_f64()
            );
        }
        if self.abort_after.is_some_and(|n| s.steps >= n) {
            // Test hook: die as a crash would, without unwinding or closing the file.
            std::process::abort();
        }
    }
}

impl RunObserver for RunProgress {
    fn event(&mut self, event: RunEvent<'_>) {
        match event {
            RunEvent::Thermalizing { steps } => {
                info!("thermalising: {steps} {} per chain", self.unit)
            }
            RunEvent::Thermalized { summary, settings } => {
                let acceptance = if self.show_acceptance {
                    format!(", acceptance {:.3}", summary.acceptance())
                } else {
                    String::new()
                };
                info!(
                    "thermalised in {:.1} s{acceptance}",
                    summary.elapsed.as_secs_f64(),
                );
                for (c, s) in settings.iter().enumerate().filter(|_| self.log_settings) {
                    if let ChainSettings::Hmc {
                        step_size,
                        n_steps,
                        fa_mass,
                        ..
                    } = s
                    {
                        let fa =
                            fa_mass.map_or(String::new(), |mu| format!(", Fourier mass {mu:.4}"));
                        info!("chain {c}: tuned step size {step_size:.5} × {n_steps} steps{fa}");
                    }
                }
            }
            RunEvent::Resuming { kept } => {
                info!("resuming: {kept:?} records kept per chain")
            }
            RunEvent::Producing { steps } => {
                self.total = steps;
                self.bar = std::io::stderr().is_terminal().then(|| {
                    let bar = ProgressBar::new(steps);
                    let template = format!(
                        "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {}, eta {{eta}} {{msg}}",
                        self.unit
                    );
                    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
                    bar
                });
            }
        }
    }
}
