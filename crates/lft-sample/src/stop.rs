//! A request to end a run early and cleanly: set from outside (the command line's signal
//! handler, at a cluster's time limit or a Ctrl-C), read by the production loop between steps.
//! A run that sees it finishes the step in hand, stores everything stored so far and returns
//! with [`crate::RunSummary::stopped`] set; the same command later continues it exactly.

use std::sync::atomic::{AtomicBool, Ordering};

/// A flag that one side sets and the running loops poll. Setting it is a single atomic store,
/// so a signal handler may do it.
#[derive(Debug, Default)]
pub struct Stop(AtomicBool);

impl Stop {
    pub const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// Asks every loop that polls this flag to end after its current step.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Two stops are equal when they are the same flag.
impl PartialEq for Stop {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

/// Whether `stop` (if any) has been requested.
pub fn stop_requested(stop: Option<&Stop>) -> bool {
    stop.is_some_and(Stop::requested)
}
