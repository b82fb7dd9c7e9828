//! `--processes`: the supervisor side (this process binds the ports and runs the pod of
//! `hurricane serve` processes, see `hurricane-supervisor`'s `Pod`) and the server
//! side (asking to be replaced at `--max-requests`, `--max-memory` and
//! `--max-lifetime`, and sending its last metrics as it stops). The supervisor sends
//! the pod's webhooks (`--webhook-url`); its processes send none.

use std::ffi::OsString;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hurricane_core::{RequestObserver, RequestRecord};
use hurricane_supervisor::{Pod, PodConfig, PodReporter, StopRequest};
use hurricane_wsgi::PoolStats;
use tokio::sync::mpsc;

use crate::cli::ServeArgs;
use crate::config::{ProcessConfig, ServeConfig};
use crate::launcher::Relaunch;
use crate::ports::{Ports, ProbePort};
use crate::reload::SuperviseError;
use crate::signals::{self, StopSignal};
use crate::webhooks::Webhooks;

/// The configuration, when this process must supervise a pod of server processes (an
/// invalid one is the server's to report).
pub fn wanted(args: &ServeArgs, supervised: bool) -> Option<ServeConfig> {
    if supervised {
        return None;
    }
    ServeConfig::new(args, false)
        .ok()
        .filter(|config| config.processes.wants_supervisor())
}

/// Runs the pod `config` describes until SIGTERM or SIGINT and its drain. Never loads
/// Python.
pub fn supervise(
    config: &ServeConfig,
    args: &ServeArgs,
    relaunch: &Relaunch,
) -> Result<(), SuperviseError> {
    let Ports { app, probes } = Ports::reserve(&config.listen)?;
    let app = app.listen()?;
    let probes = match probes {
        ProbePort::Own(port) => Some(port.listen()?),
        ProbePort::Off | ProbePort::OnAppPort => None,
    };
    log_listening(&app, probes.as_ref(), config.processes.count);
    let pod = Pod::new(
        app,
        probes,
        child_command(relaunch),
        pod_config(config, args),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SuperviseError::Runtime)?;
    runtime.block_on(run_pod(pod, config))
}

/// Runs `pod` until a signal; the pod's webhooks (`--webhook-url`) are sent from here.
async fn run_pod(pod: Pod, config: &ServeConfig) -> Result<(), SuperviseError> {
    // No Django settings here: the webhooks carry no HURRICANE_VERSION.
    let webhooks = Webhooks::start(config.webhook_url.as_ref(), None);
    let pod = pod.with_reporter(Arc::new(webhooks.clone()));
    let outcome = {
        let signals = signals::watch();
        let shutdown_delay = config.shutdown_delay;
        let stop = async move {
            let signal = signals.first.await.ok()?;
            Some(match signal {
                StopSignal::Terminate => StopRequest {
                    signal: libc::SIGTERM,
                    accept_for: shutdown_delay,
                },
                StopSignal::Interrupt => StopRequest {
                    signal: libc::SIGINT,
                    accept_for: Duration::ZERO,
                },
            })
        };
        let stop_now = async move {
            let _ = signals.second.await;
        };
        pod.run(reloads()?, stop, stop_now).await
    };
    if let Err(error) = &outcome {
        // The pod fails only before it has started; what it knows (no traceback: a
        // process's is in its output) goes with the webhook.
        webhooks.startup_failed(&error.to_string()).await;
    }
    Ok(outcome?)
}

impl PodReporter for Webhooks {
    fn started(&self) {
        self.startup_succeeded();
    }

    fn watch_probes(&self, service: &hurricane_probe::ProbeService) {
        self.report_probes_of(service);
    }
}

fn pod_config(config: &ServeConfig, args: &ServeArgs) -> PodConfig {
    let probes = config
        .clone()
        .for_pod_process(args)
        .probes
        .map(|options| options.config)
        .unwrap_or_default();
    PodConfig {
        processes: config.processes.count,
        probes: hurricane_probe::ProbeConfig {
            max_lifetime: None,
            max_memory_mb: None,
            paths: hurricane_probe::ProbePaths {
                metrics: (!args.no_metrics)
                    .then_some(probes.paths.metrics.clone())
                    .flatten(),
                ..probes.paths.clone()
            },
            ..probes
        },
        graceful_timeout: config.server.graceful_timeout,
    }
}

fn log_listening(app: &TcpListener, probes: Option<&TcpListener>, processes: usize) {
    let port = |l: &TcpListener| l.local_addr().map_or(0, |a| a.port());
    let app_port = port(app);
    match probes {
        Some(probes) => tracing::info!(
            processes,
            port = app_port,
            probe_port = port(probes),
            "Supervising {processes} server processes on port {app_port} (probes on port {})",
            port(probes)
        ),
        None => tracing::info!(
            processes,
            port = app_port,
            "Supervising {processes} server processes on port {app_port}"
        ),
    }
}

/// SIGHUP, as a stream of reload requests.
fn reloads() -> Result<mpsc::UnboundedReceiver<()>, SuperviseError> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(SuperviseError::Runtime)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// This server started again as `relaunch` says; it finds the sockets the supervisor
/// hands it and serves as one of the pod's processes.
fn child_command(relaunch: &Relaunch) -> hurricane_supervisor::ChildCommand {
    let program = relaunch.program.clone();
    let args: Vec<OsString> = relaunch.args.clone();
    Box::new(move || {
        let mut command = std::process::Command::new(&program);
        command.args(&args);
        command
    })
}

/// The server side: asks the supervisor to replace this process once it has served its
/// request budget (`--max-requests` plus jitter), more than `--max-lifetime` requests,
/// or once its memory is above `--max-memory`; asked once.
pub struct Retirement {
    budget: Option<u64>,
    /// `--max-lifetime`: django-hurricane's liveness fails past it; a pod process asks
    /// to be replaced instead (its liveness failing would have it killed as
    /// unresponsive, dropping its requests).
    lifetime: Option<u64>,
    served: AtomicU64,
    asked: AtomicBool,
}

/// How often a pod process checks its memory and its stuck requests.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A pod process with more requests stuck past `--timeout` than a quarter of its
/// `--workers` (at least one) asks to be replaced: each holds a Python thread (and a
/// database connection) that nothing can take back.
pub fn stuck_requests_limit(workers: usize) -> usize {
    (workers / 4).max(1)
}

impl Retirement {
    pub fn new(config: &ProcessConfig) -> Arc<Self> {
        let budget = config
            .max_requests
            .map(|limit| limit.saturating_add(random_up_to(config.max_requests_jitter)));
        if let Some(budget) = budget {
            tracing::debug!(budget, "this process is replaced after {budget} requests");
        }
        Arc::new(Self {
            budget,
            lifetime: config.max_lifetime,
            served: AtomicU64::new(0),
            asked: AtomicBool::new(false),
        })
    }

    /// Every second from now on: memory above `--max-memory`, or more stuck requests
    /// than [`stuck_requests_limit`] of `workers`, asks for a replacement.
    pub fn watch(
        self: &Arc<Self>,
        max_memory_mb: Option<u64>,
        pool: Arc<PoolStats>,
        workers: usize,
    ) {
        let retirement = Arc::clone(self);
        let stuck_limit = stuck_requests_limit(workers);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECK_INTERVAL);
            loop {
                ticks.tick().await;
                if let Some(reason) = over_limits(max_memory_mb, &pool, stuck_limit) {
                    retirement.ask(reason);
                    return;
                }
            }
        });
    }

    /// Asks for a replacement unless asked already; whether this was the first time.
    fn ask(&self, reason: &str) -> bool {
        let first = !self.asked.swap(true, Ordering::AcqRel);
        if first {
            hurricane_supervisor::notify_retire(reason);
        }
        first
    }
}

/// Which limit this process is over, if any (logged).
fn over_limits(
    max_memory_mb: Option<u64>,
    pool: &PoolStats,
    stuck_limit: usize,
) -> Option<&'static str> {
    if let Some(limit_mb) = max_memory_mb {
        let used_mb = hurricane_probe::resident_memory_bytes().unwrap_or(0) / (1024 * 1024);
        if used_mb > limit_mb {
            tracing::info!(used_mb, limit_mb, "resident memory {used_mb} MiB is above --max-memory {limit_mb} MiB; asking to be replaced");
            return Some("max-memory");
        }
    }
    let stuck = pool.stuck();
    if stuck > stuck_limit {
        tracing::warn!(stuck, limit = stuck_limit, "{stuck} requests are stuck past --timeout (more than {stuck_limit}); asking to be replaced");
        return Some("stuck-requests");
    }
    None
}

impl RequestObserver for Retirement {
    fn on_request_end(&self, _: &RequestRecord) {
        let served = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        if self.budget.is_some_and(|budget| served >= budget) {
            self.ask("max-requests");
        } else if let Some(lifetime) = self.lifetime.filter(|&lifetime| served > lifetime) {
            if self.ask("max-lifetime") {
                tracing::info!(served, lifetime, "{served} requests served, more than --max-lifetime {lifetime}; asked to be replaced");
            }
        }
    }
}

/// A number from 0 to `max`, different in every process (std's hasher keys are random).
fn random_up_to(max: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    if max == 0 {
        return 0;
    }
    RandomState::new().hash_one(std::process::id()) % (max + 1)
}
