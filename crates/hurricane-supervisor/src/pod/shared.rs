//! What the pod's probes and metrics read: kept by the supervisor's loop and the
//! processes' watchers, read by the probe server.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use hurricane_probe::{CheckResult, HealthChecks, PodMetrics, Probe, RequestQueue};

use super::process::Reason;
use super::PodConfig;

/// The pod's state, shared.
pub(crate) struct Shared {
    pub config: PodConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    metrics: PodMetrics,
    restarts: HashMap<Reason, u64>,
    /// Processes taking connections.
    serving: usize,
    /// Slots whose replacements keep failing (see [`REPLACEMENT_FAILURES`]).
    failing_slots: usize,
}

/// A slot whose last this many processes in a row failed to start or were replaced as
/// unresponsive fails the pod's liveness: replacing them is not working, and a restart
/// of the container is the next thing to try.
pub const REPLACEMENT_FAILURES: u32 = 3;

impl Shared {
    pub fn new(config: PodConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A process's metrics, as just read (or as it sent them when it stopped).
    pub fn scraped(&self, pid: u32, text: &str) {
        let mut state = self.lock();
        if let Err(error) = state.metrics.update(pid, text) {
            tracing::warn!(pid, %error, "cannot read a server process's metrics");
        }
    }

    /// The process has exited: its counts stay in the pod's totals, its gauges go.
    pub fn exited(&self, pid: u32) {
        self.lock().metrics.retire(pid);
    }

    pub fn replaced(&self, reason: Reason) {
        *self.lock().restarts.entry(reason).or_default() += 1;
    }

    pub fn set_serving(&self, serving: usize, failing_slots: usize) {
        let mut state = self.lock();
        state.serving = serving;
        state.failing_slots = failing_slots;
    }

    /// The pod's metrics: the processes' summed, then the supervisor's own.
    pub fn render_metrics(&self, probes_passing: [(Probe, bool); 3]) -> String {
        let state = self.lock();
        let mut text = state.metrics.render();
        text.push_str(
            "# HELP hurricane_process_restarts_total Server processes replaced, by reason.\n",
        );
        text.push_str("# TYPE hurricane_process_restarts_total counter\n");
        for reason in Reason::REPLACEMENTS {
            let count = state.restarts.get(&reason).copied().unwrap_or(0);
            let _ = writeln!(
                text,
                "hurricane_process_restarts_total{{reason=\"{}\"}} {count}",
                reason.as_str()
            );
        }
        text.push_str("# HELP hurricane_processes Server processes taking connections.\n");
        text.push_str("# TYPE hurricane_processes gauge\n");
        let _ = writeln!(text, "hurricane_processes {}", state.serving);
        text.push_str(
            "# HELP hurricane_processes_wanted Server processes the pod runs (--processes).\n",
        );
        text.push_str("# TYPE hurricane_processes_wanted gauge\n");
        let _ = writeln!(text, "hurricane_processes_wanted {}", self.config.processes);
        text.push_str("# HELP hurricane_probe_passing 1 while a probe of the pod passes (as last answered), 0 while it fails.\n");
        text.push_str("# TYPE hurricane_probe_passing gauge\n");
        for (probe, passing) in probes_passing {
            let _ = writeln!(
                text,
                "hurricane_probe_passing{{probe=\"{}\"}} {}",
                probe.name(),
                u8::from(passing)
            );
        }
        text
    }

    pub fn is_alive(&self) -> bool {
        self.lock().failing_slots == 0
    }

    pub fn serving(&self) -> usize {
        self.lock().serving
    }
}

/// The pod's liveness and readiness, for hurricane-probe's service.
pub(crate) struct PodChecks(pub std::sync::Arc<Shared>);

impl HealthChecks for PodChecks {
    fn run(&self, probe: Probe) -> Vec<CheckResult> {
        let wanted = self.0.config.processes;
        match probe {
            Probe::Liveness if !self.0.is_alive() => vec![CheckResult::failed(
                "processes",
                "server processes keep failing",
                format!("the last {REPLACEMENT_FAILURES} processes of a slot in a row failed to start or stopped answering"),
            )],
            Probe::Readiness if self.0.serving() < wanted => {
                let serving = self.0.serving();
                vec![CheckResult::failed(
                    "processes",
                    "not every server process serves",
                    format!("{serving} of {wanted} server processes serve"),
                )]
            }
            _ => vec![CheckResult::passed("processes")],
        }
    }
}

/// The summed queue of the processes.
pub(crate) struct PodQueue(pub std::sync::Arc<Shared>);

impl RequestQueue for PodQueue {
    fn queued(&self) -> usize {
        let queued = self.0.lock().metrics.gauge_value("request_queue_length");
        queued.unwrap_or(0.0) as usize
    }
}
