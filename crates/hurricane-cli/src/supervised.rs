//! The server's side of a supervisor (`--autoreload`'s or `--processes`'): the sockets
//! it handed down, and telling it how this server is.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::Path;

use hurricane_supervisor::SocketRole;

/// Where the application's connections come from under a supervisor.
#[derive(Debug)]
pub enum AppSocket {
    /// A listening socket shared with the server being replaced (`--autoreload`).
    Listener(TcpListener),
    /// Connections the supervisor accepts and hands over (`--processes`).
    Handoff(OwnedFd),
}

/// The sockets a supervisor handed to this process.
#[derive(Debug, Default)]
pub struct Inherited {
    pub app: Option<AppSocket>,
    pub probes: Option<TcpListener>,
}

impl Inherited {
    /// Started by a supervisor.
    pub fn is_supervised(&self) -> bool {
        self.app.is_some()
    }

    /// One of the processes of `--processes`: its probes are the supervisor's to read,
    /// on a private port, and the pod's probes are the supervisor's to answer.
    pub fn is_pod_process(&self) -> bool {
        matches!(self.app, Some(AppSocket::Handoff(_)))
    }
}

/// Sockets from `LISTEN_FDS`, if a supervisor started this process. Call before any
/// other thread reads the environment.
pub fn inherited() -> Inherited {
    let mut inherited = Inherited::default();
    for socket in hurricane_supervisor::inherited_sockets().unwrap_or_default() {
        match socket.role {
            SocketRole::App => inherited.app = Some(AppSocket::Listener(socket.fd.into())),
            SocketRole::Connections => inherited.app = Some(AppSocket::Handoff(socket.fd)),
            SocketRole::Probes => inherited.probes = Some(socket.fd.into()),
        }
    }
    inherited
}

/// Tells the supervisor (if any) that this server serves; changes under `media_root`
/// (uploads) must not reload it.
pub fn notify_ready(media_root: Option<&Path>) {
    hurricane_supervisor::notify_ready(&media_root.into_iter().collect::<Vec<_>>());
}
