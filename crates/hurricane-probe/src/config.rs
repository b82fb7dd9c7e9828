//! What the probes answer on, and their thresholds.

use std::time::Duration;

/// The path of a probe or of the metrics, normalised once as django-hurricane does:
/// spaces removed, exactly one leading `/`, no trailing one (`"//health /live/"` is
/// `/health/live`). A trailing slash is optional when matching (see
/// [`ProbePaths::matches`]).
///
/// ```
/// use hurricane_probe::ProbePath;
///
/// assert_eq!(ProbePath::new("alive").as_str(), "/alive");
/// assert_eq!(ProbePath::new("//health /live/").as_str(), "/health/live");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePath(String);

impl ProbePath {
    /// `path`, normalised.
    pub fn new(path: &str) -> Self {
        let compact: String = path.chars().filter(|c| !c.is_whitespace()).collect();
        let trimmed = compact.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        Self(format!("/{trimmed}"))
    }

    /// The normalised path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProbePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The paths of the probes and of the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePaths {
    /// The startup probe's path (`/startup`).
    pub startup: ProbePath,
    /// The liveness probe's path (`/alive`).
    pub liveness: ProbePath,
    /// The readiness probe's path (`/ready`).
    pub readiness: ProbePath,
    /// `None` with `--no-metrics`: the path answers 404.
    pub metrics: Option<ProbePath>,
}

impl Default for ProbePaths {
    fn default() -> Self {
        Self {
            startup: ProbePath::new("/startup"),
            liveness: ProbePath::new("/alive"),
            readiness: ProbePath::new("/ready"),
            metrics: Some(ProbePath::new("/metrics")),
        }
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
