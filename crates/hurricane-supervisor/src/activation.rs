//! Handing sockets from the supervisor to a server process, and the server telling the
//! supervisor how it is: systemd's socket-activation (`LISTEN_FDS`, `LISTEN_FDNAMES`) and
//! notification (`NOTIFY_SOCKET`) protocols, so that a hurricane server can equally be
//! started by systemd.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The first inherited descriptor, as systemd numbers them.
const FIRST_FD: RawFd = 3;

/// Descriptors are parked at or above this number before `exec`, so that placing them
/// at 3, 4, ... never overwrites one not yet placed.
const PARKING_FD: RawFd = 100;

/// The name of a handed socket (`LISTEN_FDNAMES`), which says what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    /// A listening socket for the application (`app`; systemd's default name `unknown`
    /// and a missing name mean this too, for the first socket).
    App,
    /// A listening socket for the probes (`probes`; the second unnamed socket).
    Probes,
    /// A Unix socket over which the supervisor hands over connections it accepted
    /// (`connections`, see [`crate::handoff`]).
    Connections,
}

impl SocketRole {
    fn name(self) -> &'static str {
        match self {
            SocketRole::App => "app",
            SocketRole::Probes => "probes",
            SocketRole::Connections => "connections",
        }
    }

    fn from_name(name: Option<&str>, position: usize) -> Self {
        match name {
            Some("probes") => SocketRole::Probes,
            Some("connections") => SocketRole::Connections,
            Some("app") => SocketRole::App,
            _ if position == 0 => SocketRole::App,
            _ => SocketRole::Probes,
        }
    }
}

/// One socket this process was handed.
#[derive(Debug)]
pub struct InheritedSocket {
    /// What it is for.
    pub role: SocketRole,
    /// The descriptor (close-on-exec).
    pub fd: OwnedFd,
}

/// The sockets this process was handed, in order, if it was started with `LISTEN_FDS`
/// (and `LISTEN_PID`, when set, is this process). The variables are removed so that
/// processes started from here do not take the sockets for theirs.
pub fn inherited_sockets() -> Option<Vec<InheritedSocket>> {
    let count: RawFd = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    // SAFETY: called at start-up, before any other thread reads the environment.
    unsafe {
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if !for_us || count <= 0 {
        return None;
    }
    let mut names = names.split(':');
    let sockets = (FIRST_FD..FIRST_FD + count)
        .enumerate()
        .map(|(position, fd)| {
            let role = SocketRole::from_name(names.next().filter(|n| !n.is_empty()), position);
            // SAFETY: the protocol hands us descriptors 3..3+LISTEN_FDS, which nothing
            // else in this process owns. Marked close-on-exec so Python's subprocesses
            // do not inherit them.
            let fd = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                OwnedFd::from_raw_fd(fd)
            };
            InheritedSocket { role, fd }
        })
        .collect();
    Some(sockets)
}

/// Sockets to hand to a child process as descriptors 3, 4, ...
#[derive(Debug)]
pub struct HandedSockets {
    parked: Vec<(SocketRole, OwnedFd)>,
}

impl HandedSockets {
    /// Duplicates of `sockets` (close-on-exec, so only the child they are handed to
    /// gets them).
    pub fn new<'a>(
        sockets: impl IntoIterator<Item = (SocketRole, BorrowedFd<'a>)>,
    ) -> io::Result<Self> {
        let parked = sockets
            .into_iter()
            .map(|(role, socket)| {
                // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
                let fd =
                    unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKING_FD) };
                if fd < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    // SAFETY: `fd` was just created and is owned by nobody else.
                    Ok((role, unsafe { OwnedFd::from_raw_fd(fd) }))
                }
            })
            .collect::<io::Result<_>>()?;
        Ok(Self { parked })
    }

    /// Makes `command` start with the sockets as descriptors 3, 4, ... and
    /// `LISTEN_FDS` and `LISTEN_FDNAMES` set (no `LISTEN_PID`: the child's pid is not
    /// known before it exists, and it is the only process started with these variables).
    pub fn hand_to(&self, command: &mut Command) {
        let fds: Vec<RawFd> = self.parked.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let names: Vec<&str> = self.parked.iter().map(|(role, _)| role.name()).collect();
        command
            .env("LISTEN_FDS", fds.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .env_remove("LISTEN_PID");
        // SAFETY: only dup2, which is async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(move || {
                for (i, &fd) in fds.iter().enumerate() {
                    if libc::dup2(fd, FIRST_FD + i as RawFd) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

/// Readiness line naming a directory whose changes should not reload (MEDIA_ROOT);
/// systemd ignores variables it does not know.
pub(crate) const IGNORE_KEY: &str = "X_HURRICANE_IGNORE=";

/// The line asking the supervisor to replace this process gracefully, with the reason.
pub(crate) const RETIRE_KEY: &str = "X_HURRICANE_RETIRE=";

/// The first line of a process's last metrics, followed by its pid, a newline and the
/// Prometheus text.
pub(crate) const METRICS_KEY: &str = "X_HURRICANE_METRICS=";

/// The readiness message `READY=1`, sent to `$NOTIFY_SOCKET` when set (else nothing),
/// with this process's id so the supervisor knows which child is ready, and the
/// directories whose changes are the server's own doing (uploads) to `ignore`.
pub fn notify_ready(ignore: &[&Path]) {
    let mut message = format!("READY=1\nMAINPID={}\n", std::process::id());
    for dir in ignore {
        message.push_str(&format!("{IGNORE_KEY}{}\n", dir.display()));
    }
    notify(&message);
}

/// Asks the supervisor (if any) to replace this process gracefully: start a new one,
/// and stop this one once the new one serves. `reason` is a short word for logs and
/// metrics (`max-requests`, `max-memory`, `max-lifetime`, `stuck-requests`).
pub fn notify_retire(reason: &str) {
    notify(&format!(
        "MAINPID={}\n{RETIRE_KEY}{reason}\n",
        std::process::id()
    ));
}

/// Sends the supervisor (if any) this process's metrics as it stops, after its last
/// request, so that the pod's counters include every request it served.
pub fn notify_metrics(text: &str) {
    notify(&format!("{METRICS_KEY}{}\n{text}", std::process::id()));
}

fn notify(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound()
        .and_then(|socket| socket.send_to(message.as_bytes(), Path::new(&path)));
    if let Err(error) = sent {
        tracing::warn!(%error, "cannot tell the supervisor about this server");
    }
}
