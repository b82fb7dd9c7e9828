//! Where the server is in its life: starting, started, draining.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The server's phase, as the probes report it. Shared by the start-up sequence (which
/// marks the end of start-up), the signal handler (which starts the drain) and the probes.
#[derive(Debug)]
pub struct Lifecycle {
    created: Instant,
    /// Seconds from [`Lifecycle::new`] to [`Lifecycle::mark_started`].
    startup_seconds: OnceLock<f64>,
    draining: AtomicBool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// Call as early as possible: start-up time is measured from here.
    pub fn new() -> Self {
        Self {
            created: Instant::now(),
            startup_seconds: OnceLock::new(),
            draining: AtomicBool::new(false),
        }
    }

    /// Start-up work is done and the application port serves. Returns the start-up time
    /// in seconds (the first call's, if called again).
    pub fn mark_started(&self) -> f64 {
        *self
            .startup_seconds
            .get_or_init(|| self.created.elapsed().as_secs_f64())
    }

    /// The start-up time in seconds, once started.
    pub fn startup_seconds(&self) -> Option<f64> {
        self.startup_seconds.get().copied()
    }

    /// The server is shutting down: readiness fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Lifecycle::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
