//! What the probes answer on, and their thresholds.

use std::time::Duration;

/// The paths of the probes and of the metrics, each normalised as django-hurricane does:
/// spaces removed and exactly one leading `/`. A trailing slash is optional when
/// matching (see [`ProbePaths::route`](crate::ProbePaths)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePaths {
    /// The startup probe's path (`/startup`).
    pub startup: String,
    /// The liveness probe's path (`/alive`).
    pub liveness: String,
    /// The readiness probe's path (`/ready`).
    pub readiness: String,
    /// `None` with `--no-metrics`: the path answers 404.
    pub metrics: Option<String>,
}

impl Default for ProbePaths {
    fn default() -> Self {
        Self {
            startup: "/startup".into(),
            liveness: "/alive".into(),
            readiness: "/ready".into(),
            metrics: Some("/metrics".into()),
        }
    }
}

impl ProbePaths {
    /// `path` without spaces, with exactly one leading slash and no trailing one.
    pub fn normalise(path: &str) -> String {
        let compact: String = path.chars().filter(|c| !c.is_whitespace()).collect();
        let trimmed = compact.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        format!("/{trimmed}")
    }
}

/// Thresholds and deadlines of the probes.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Where the probes and the metrics answer.
    pub paths: ProbePaths,
    /// Readiness fails once this many requests wait for the application.
    pub req_queue_len: usize,
    /// Liveness fails (400) once more than this many application requests were served.
    pub max_lifetime: Option<u64>,
    /// Liveness fails (400) while the resident memory is above this many MiB.
    pub max_memory_mb: Option<u64>,
    /// How long a probe waits for the application's checks before failing.
    pub probe_timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            paths: ProbePaths::default(),
            req_queue_len: 10,
            max_lifetime: None,
            max_memory_mb: None,
            probe_timeout: Duration::from_millis(800),
        }
    }
}
