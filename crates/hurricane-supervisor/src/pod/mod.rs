//! `--processes N`: a pod of N server processes behind one supervisor.
//!
//! The supervisor accepts every connection and hands it to the serving process with
//! the fewest open ([`crate::handoff`]); it answers the pod's probes and `/metrics` on
//! the probe port and reads each process's own on a private port every
//! [`POLL_INTERVAL`]. Each process has a slot; a slot's process is replaced:
//! - at once when it exits unexpectedly (its in-flight requests fail, no others), after
//!   a back-off when processes keep dying before they serve ([`backoff`]);
//! - gracefully when it asks (`--max-requests`, `--max-memory`, `--max-lifetime`,
//!   stuck requests past `--timeout`) or on `SIGHUP` (one slot at a time): the new
//!   process starts, takes new connections once it serves, and only then is the old
//!   one told to finish its requests and exit. Zero requests fail;
//! - when its liveness checks have failed for [`UNRESPONSIVE_AFTER`] (a wedged
//!   interpreter): it takes no new connection from then on and is killed once its
//!   replacement serves, after a short grace; only its in-flight requests fail.
//!
//! The pod is started once every slot's first process serves; one that fails before it
//! does stops the pod with an error, as a single server would. Liveness of the pod
//! fails only when replacing keeps failing ([`REPLACEMENT_FAILURES`] in a row in a
//! slot); readiness fails while fewer than N processes serve or the summed queue
//! reaches `--req-queue-len`. A [`PodReporter`] hears when the pod has started and
//! watches the pod's probes (the caller's `--webhook-url`, sent once for the pod).

mod probes;
mod process;
mod router;
mod running;
mod scrape;
mod shared;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use hurricane_core::{Server, ServerConfig};
use hurricane_probe::{CheckRunner, Lifecycle, Metrics, ProbeConfig, ProbeService};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use process::{Reason, POLL_INTERVAL};
pub use shared::REPLACEMENT_FAILURES;

use crate::{ChildCommand, NotifySocket};
use process::Process;
use router::Routes;
use shared::Shared;

/// How long a process's liveness checks must keep failing before it is replaced.
pub const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(10);

/// How long an unresponsive process, once replaced, gets to finish its requests.
const UNRESPONSIVE_GRACE: Duration = Duration::from_secs(2);

/// The pod's configuration.
#[derive(Debug, Clone)]
pub struct PodConfig {
    /// How many server processes serve.
    pub processes: usize,
    /// The probes: paths, `--req-queue-len`, `--probe-timeout` (`--max-memory` and
    /// `--max-lifetime` are the processes' own business: they ask to be replaced).
    pub probes: ProbeConfig,
    /// How long a replaced process may take to finish its requests.
    pub graceful_timeout: Duration,
}

/// Who hears how the pod is (`--webhook-url`: the caller's webhooks, sent once for the
/// pod, not by each process). The supervisor sends nothing itself: it has no HTTP
/// client. A start-up failure is [`Pod::run`]'s error.
pub trait PodReporter: Send + Sync {
    /// Every slot's first process serves: the pod has started.
    fn started(&self);
    /// The service answering the pod's probes (with a probe port only), to hear from
    /// it on every change of the pod's liveness or readiness.
    fn watch_probes(&self, service: &ProbeService);
}

/// How the pod is asked to stop.
#[derive(Debug, Clone, Copy)]
pub struct StopRequest {
    /// Passed on to every process (SIGTERM: it keeps serving for its shutdown delay
    /// with readiness failing, then drains; SIGINT: it drains at once).
    pub signal: libc::c_int,
    /// How long the supervisor keeps handing connections over before it stops
    /// accepting (the processes' `--shutdown-delay` after SIGTERM, else zero).
    pub accept_for: Duration,
}

/// Why the pod cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// The sockets could not be set up.
    #[error("cannot prepare the sockets for the server processes: {0}")]
    Sockets(std::io::Error),
    /// A process could not be started at all.
    #[error("cannot start a server process: {0}")]
    Spawn(std::io::Error),
    /// A process failed before the pod had started.
    #[error("a server process exited before it served ({0}); see its output above")]
    StartFailed(ExitStatus),
    /// The probe port could not serve.
    #[error(transparent)]
    Probes(#[from] hurricane_core::ServerError),
    /// The probes' check thread could not start.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// What the loop hears from the tasks around the processes.
pub(crate) enum Event {
    Exited { pid: u32, status: ExitStatus },
    Liveness { pid: u32, passing: bool },
}

/// N server processes behind one supervisor (see the module docs).
pub struct Pod {
    app: std::net::TcpListener,
    probes: Option<std::net::TcpListener>,
    command: ChildCommand,
    config: PodConfig,
    reporter: Option<Arc<dyn PodReporter>>,
}

impl Pod {
    /// `app`: the application's listening socket; `probes`: the pod's probe port
    /// (none with `--no-probe`).
    pub fn new(
        app: std::net::TcpListener,
        probes: Option<std::net::TcpListener>,
        command: ChildCommand,
        config: PodConfig,
    ) -> Self {
        Self {
            app,
            probes,
            command,
            config,
            reporter: None,
        }
    }

    /// `reporter` hears when the pod has started and watches its probes.
    #[must_use]
    pub fn with_reporter(mut self, reporter: Arc<dyn PodReporter>) -> Self {
        self.reporter = Some(reporter);
        self
    }

    /// Runs the pod until `stop` (and the processes' drain), replacing processes as the
    /// module docs say; every message on `reloads` (SIGHUP) replaces them all, one at a
    /// time. `stop_now` (a second signal) kills the processes at once.
    pub async fn run(
        self,
        reloads: mpsc::UnboundedReceiver<()>,
        stop: impl Future<Output = Option<StopRequest>>,
        stop_now: impl Future<Output = ()>,
    ) -> Result<(), PodError> {
        self.app.set_nonblocking(true).map_err(PodError::Sockets)?;
        let listener = tokio::net::TcpListener::from_std(self.app).map_err(PodError::Sockets)?;
        let shared = Arc::new(Shared::new(self.config.clone()));
        let lifecycle = Arc::new(Lifecycle::new());
        let probe_server = match self.probes {
            Some(probes) => Some(serve_probes(
                probes,
                &shared,
                &lifecycle,
                self.reporter.as_deref(),
            )?),
            None => None,
        };
        let notify = NotifySocket::bind().map_err(PodError::Sockets)?;
        crate::reaper::reap_orphans_if_init();
        let (events_tx, events) = mpsc::unbounded_channel();
        let routes = Arc::new(Routes::default());
        let mut pod = Running {
            command: self.command,
            config: self.config,
            notify,
            events_tx,
            shared,
            lifecycle,
            routes: Arc::clone(&routes),
            slots: Vec::new(),
            retiring: HashMap::new(),
            rolling: VecDeque::new(),
            reporter: self.reporter,
        };
        pod.start_all()?;
        let acceptor = tokio::spawn(router::accept_loop(listener, routes));
        let mut events = events;
        let outcome = pod.supervise(&mut events, reloads, stop).await;
        if let Ok(request) = outcome {
            pod.stop_all(request, acceptor, &mut events, stop_now).await;
        }
        if let Some((stop, server)) = probe_server {
            let _ = stop.send(());
            let _ = server.await;
        }
        outcome.map(|_| ())
    }
}

type ProbeServer = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<hurricane_core::ShutdownOutcome>,
);

/// The pod's probe port, answering from `shared`.
fn serve_probes(
    listener: std::net::TcpListener,
    shared: &Arc<Shared>,
    lifecycle: &Arc<Lifecycle>,
    reporter: Option<&dyn PodReporter>,
) -> Result<ProbeServer, PodError> {
    let metrics = Metrics::new().map_err(|e| PodError::Thread(std::io::Error::other(e)))?;
    let service = ProbeService::new(
        shared.config.probes.clone(),
        Arc::clone(lifecycle),
        Arc::new(metrics),
    );
    let checks = CheckRunner::start(Arc::new(shared::PodChecks(Arc::clone(shared))))
        .map_err(PodError::Thread)?;
    service.attach_application(checks, Arc::new(shared::PodQueue(Arc::clone(shared))));
    if let Some(reporter) = reporter {
        reporter.watch_probes(&service);
    }
    let addr = listener
        .local_addr()
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let config = ServerConfig {
        name: "probe",
        graceful_timeout: Duration::from_secs(1),
        ..ServerConfig::new(addr)
    };
    let server = Server::from_listener(listener, config)?;
    let handler = probes::PodProbes {
        service,
        shared: Arc::clone(shared),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(handler, async move {
        let _ = stopped.await;
    }));
    Ok((stop, task))
}

/// One process's place in the pod.
#[derive(Default)]
struct Slot {
    /// The process taking connections.
    current: Option<Process>,
    /// Its replacement, starting.
    next: Option<Process>,
    /// Processes in a row that failed to start or stopped answering.
    failures: u32,
    /// When to try starting a process again after one failed to, and why.
    retry_at: Option<(Instant, Reason)>,
}

/// The pod while it runs.
struct Running {
    command: ChildCommand,
    config: PodConfig,
    notify: NotifySocket,
    events_tx: mpsc::UnboundedSender<Event>,
    shared: Arc<Shared>,
    lifecycle: Arc<Lifecycle>,
    routes: Arc<Routes>,
    slots: Vec<Slot>,
    /// Replaced processes finishing their requests.
    retiring: HashMap<u32, Process>,
    /// Slots still to replace for a `SIGHUP`, one at a time.
    rolling: VecDeque<usize>,
    reporter: Option<Arc<dyn PodReporter>>,
}

/// Waiting before the `failures`-th attempt in a row to start a slot's process:
/// 0.5 s, doubling, at most 30 s.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(500 * (1 << exponent)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_back_off_up_to_thirty_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(20), Duration::from_secs(30));
    }
}
