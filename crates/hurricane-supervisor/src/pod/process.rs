//! One server process of the pod: started with its handoff and a private probe port,
//! watched (exit, liveness, metrics), stopped gracefully or killed.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::scrape;
use super::{Event, Shared};
use crate::handoff::Handoff;
use crate::{ChildProcess, HandedSockets, NotifySocket, SocketRole};

/// Why a process was started (or replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The pod's first processes.
    Start,
    /// The previous one exited unexpectedly (a crash, `kill -9`, `os._exit`).
    Exited,
    /// It had served `--max-requests` (plus jitter).
    MaxRequests,
    /// Its resident memory went above `--max-memory`.
    MaxMemory,
    /// It had served more than `--max-lifetime` requests.
    MaxLifetime,
    /// Too many of its requests were stuck past `--timeout`.
    StuckRequests,
    /// Its liveness checks kept failing (a wedged interpreter).
    Unresponsive,
    /// `SIGHUP`: new code.
    Reload,
}

impl Reason {
    /// Every reason a process is replaced for (not [`Reason::Start`]).
    pub const REPLACEMENTS: [Reason; 7] = [
        Reason::Exited,
        Reason::MaxRequests,
        Reason::MaxMemory,
        Reason::MaxLifetime,
        Reason::StuckRequests,
        Reason::Unresponsive,
        Reason::Reload,
    ];

    /// The `reason` label and the word in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Exited => "exited",
            Reason::MaxRequests => "max-requests",
            Reason::MaxMemory => "max-memory",
            Reason::MaxLifetime => "max-lifetime",
            Reason::StuckRequests => "stuck-requests",
            Reason::Unresponsive => "unresponsive",
            Reason::Reload => "reload",
        }
    }

    /// A reason a process asks to be replaced for (`X_HURRICANE_RETIRE`).
    pub fn asked(word: &str) -> Option<Self> {
        match word {
            "max-requests" => Some(Reason::MaxRequests),
            "max-memory" => Some(Reason::MaxMemory),
            "max-lifetime" => Some(Reason::MaxLifetime),
            "stuck-requests" => Some(Reason::StuckRequests),
            _ => None,
        }
    }
}

/// What the control task of a process is told.
enum Control {
    /// Send this signal; kill the process if it has not exited after `grace`.
    Stop {
        signal: libc::c_int,
        grace: Duration,
    },
}

/// A running server process and the tasks around it.
pub(crate) struct Process {
    pub pid: u32,
    pub reason: Reason,
    pub handoff: Arc<Handoff>,
    /// When it said it serves.
    pub ready_at: Option<Instant>,
    /// Since when its liveness checks have failed without a pass.
    pub failing_since: Option<Instant>,
    control: mpsc::UnboundedSender<Control>,
    probe_addr: SocketAddr,
    watcher: Option<JoinHandle<()>>,
}

impl Process {
    /// Starts one server process (`command`) with its own handoff and probe port.
    pub fn spawn(
        command: std::process::Command,
        notify: &NotifySocket,
        reason: Reason,
        events: &mpsc::UnboundedSender<Event>,
    ) -> std::io::Result<Self> {
        let (handoff, theirs) = Handoff::pair()?;
        let probes = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        let probe_addr = probes.local_addr()?;
        let sockets = HandedSockets::new([
            (SocketRole::Connections, theirs.as_fd()),
            (SocketRole::Probes, probes.as_fd()),
        ])?;
        // A group of its own: a Ctrl-C in a terminal reaches the supervisor alone, which
        // passes it on once; a second one would make the process exit without draining.
        let mut command = command;
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = ChildProcess::spawn(command, &sockets, notify)?;
        let pid = child.pid;
        tokio::spawn({
            let handoff = Arc::clone(&handoff);
            async move { handoff.count_closes().await }
        });
        let (control, commands) = mpsc::unbounded_channel();
        tokio::spawn(control_task(child, commands, events.clone()));
        Ok(Self {
            pid,
            reason,
            handoff,
            ready_at: None,
            failing_since: None,
            control,
            probe_addr,
            watcher: None,
        })
    }

    /// It serves: poll its liveness and metrics from now on.
    pub fn serving(&mut self, shared: &Arc<Shared>, events: &mpsc::UnboundedSender<Event>) {
        self.ready_at = Some(Instant::now());
        self.watcher = Some(tokio::spawn(watch(
            self.pid,
            self.probe_addr,
            Arc::clone(shared),
            events.clone(),
        )));
    }

    /// Sends `signal` (SIGINT: drain at once; SIGTERM: after its shutdown delay); kills
    /// it after `grace`. Its metrics are still read until it exits.
    pub fn stop(&self, signal: libc::c_int, grace: Duration) {
        let _ = self.control.send(Control::Stop { signal, grace });
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// Owns the child: signals it when told, kills it after a stop's grace, and reports its
/// exit once its output has been passed on.
async fn control_task(
    mut child: ChildProcess,
    mut commands: mpsc::UnboundedReceiver<Control>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut kill_at: Option<tokio::time::Instant> = None;
    let status: ExitStatus = loop {
        let kill = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.exited() => break status,
            Some(Control::Stop { signal, grace }) = commands.recv() => {
                child.signal(signal);
                kill_at.get_or_insert(tokio::time::Instant::now() + grace);
            }
            () = kill => {
                tracing::warn!(pid = child.pid, "a stopped server process did not exit in time; killing it");
                child.signal(libc::SIGKILL);
                kill_at = None;
            }
        }
    };
    child.output.caught_up().await;
    let _ = events.send(Event::Exited {
        pid: child.pid,
        status,
    });
}

/// How often a serving process's liveness and metrics are read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Reads the process's liveness and metrics every [`POLL_INTERVAL`].
async fn watch(
    pid: u32,
    addr: SocketAddr,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
) {
    let deadline = shared.config.probes.probe_timeout + Duration::from_secs(1);
    let liveness = shared.config.probes.paths.liveness.as_str().to_owned();
    let metrics = shared
        .config
        .probes
        .paths
        .metrics
        .as_ref()
        .map(|p| p.as_str().to_owned());
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    loop {
        ticks.tick().await;
        let passing = scrape::get(addr, &liveness, deadline)
            .await
            .is_some_and(|(status, _)| status.is_success());
        if events.send(Event::Liveness { pid, passing }).is_err() {
            return;
        }
        if let Some(path) = &metrics {
            if let Some((status, text)) = scrape::get(addr, path, deadline).await {
                if status.is_success() {
                    shared.scraped(pid, &String::from_utf8_lossy(&text));
                }
            }
        }
    }
}
