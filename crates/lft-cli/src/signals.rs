//! Signals that end a run cleanly. SIGINT (Ctrl-C), SIGTERM (a cluster's time limit or
//! preemption), SIGUSR1 and SIGUSR2 (Slurm's `--signal` warning before the limit) ask the run
//! to stop: it finishes the step in hand (an HMC trajectory, a batch of proposals, an
//! annealing pass, a CRAFT iteration, a training step), stores everything, and exits with
//! [`EXIT_STOPPED`]. The same command then continues it exactly.
//! A second Ctrl-C ends the process at once (exit 130), as a crash would; the files stay
//! readable and resumable. Repeated TERM and USR signals are one request.

use lft_sample::Stop;

/// The flag the handlers set and the run loops poll.
pub static STOP: Stop = Stop::new();

/// Exit status of a run stopped by a signal, unfinished and resumable (EX_TEMPFAIL of
/// sysexits.h: "try again later").
pub const EXIT_STOPPED: u8 = 75;

/// A run ended early by [`STOP`]: not a failure, but not done either.
#[derive(Debug)]
pub struct Stopped {
    /// What is unfinished, for example the output file.
    pub what: String,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped by a signal; {} is unfinished and everything done so far is stored: run \
             the same command again to continue",
            self.what
        )
    }
}

impl std::error::Error for Stopped {}

/// An error if a stop was requested, naming `what` is left unfinished.
pub fn check(what: impl std::fmt::Display) -> anyhow::Result<()> {
    if STOP.requested() {
        return Err(Stopped {
            what: what.to_string(),
        }
        .into());
    }
    Ok(())
}

#[cfg(unix)]
extern "C" fn on_signal(signal: libc::c_int) {
    // A second Ctrl-C means "now". Repeated TERM or USR signals do not: at a time limit or
    // on preemption Slurm signals every process of the job, so lft gets its own TERM and the
    // one the batch script passes on.
    if signal == libc::SIGINT && STOP.requested() {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
    STOP.request();
}

/// Installs the handlers (once, at start-up).
pub fn install() {
    #[cfg(unix)]
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: the handler only does an atomic load and store, or _exit, all
        // async-signal-safe; sigaction is given a zeroed, then filled, struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}
