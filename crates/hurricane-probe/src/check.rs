//! What the application contributes to the probes.

/// The three Kubernetes probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// Is the application started? (Until it is, the other two are not asked.)
    Startup,
    /// Is the process healthy, or should it be restarted?
    Liveness,
    /// Should the pod be sent traffic?
    Readiness,
}

impl Probe {
    /// The lower-case name used in `?verbose` summaries, metrics labels and webhooks.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Startup => "startup",
            Probe::Liveness => "liveness",
            Probe::Readiness => "readiness",
        }
    }
}

/// The outcome of one named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Shown in `?verbose` output, e.g. `database` or `liveness-checks`.
    pub name: String,
    /// `None` when the check passed.
    pub failure: Option<CheckFailure>,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The probe's response body when this is the first failing check, e.g. `check error`.
    pub body: String,
    /// One line for `?verbose` and the log.
    pub reason: String,
}

impl CheckResult {
    /// A check that passed.
    pub fn passed(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            failure: None,
        }
    }

    /// A check that failed: `body` answers the probe, `reason` goes to `?verbose` and the
    /// log.
    pub fn failed(
        name: impl Into<String>,
        body: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            failure: Some(CheckFailure {
                body: body.into(),
                reason: reason.into(),
            }),
        }
    }
}

/// The application's own liveness and readiness checks (Django's tagged system checks
/// and a database round trip, in hurricane-wsgi).
///
/// [`CheckRunner`](crate::CheckRunner) calls these on one thread of its own, never on a
/// request thread or a tokio thread, one call at a time, and stops waiting for an
/// answer after the probe deadline: an implementation may block (on the GIL, on the
/// database) without holding up anything but its own probe results.
pub trait HealthChecks: Send + Sync + 'static {
    /// Runs the checks of `probe` ([`Probe::Liveness`] or [`Probe::Readiness`]) and
    /// reports each, in the order their failures should decide the response.
    fn run(&self, probe: Probe) -> Vec<CheckResult>;

    /// Wraps the whole life of the checker thread. The Python implementation attaches the
    /// thread to the interpreter here, once, so that per-thread state such as Django's
    /// database connections lives from one probe to the next.
    fn around_thread(&self, thread_body: &mut (dyn FnMut() + Send)) {
        thread_body();
    }
}

/// How many requests wait for the application (readiness fails when it reaches
/// `--req-queue-len`; `/metrics` reports it), and how many missed the request timeout.
pub trait RequestQueue: Send + Sync + 'static {
    /// Requests waiting for the application right now.
    fn queued(&self) -> usize;

    /// Requests answered `504` so far because the application did not answer within the
    /// request timeout (`request_timeouts_total`).
    fn timeouts(&self) -> u64 {
        0
    }

    /// Requests that timed out whose application call has not returned yet, each holding
    /// a thread of the application (`hurricane_stuck_requests`).
    fn stuck(&self) -> usize {
        0
    }
}
