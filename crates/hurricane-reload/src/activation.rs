//! Handing listening sockets from the supervisor to a server process, and the server
//! telling the supervisor it is ready: systemd's socket-activation (`LISTEN_FDS`) and
//! readiness (`NOTIFY_SOCKET`, `READY=1`) protocols, so that a hurricane server can
//! equally be started by systemd.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The first inherited descriptor, as systemd numbers them.
const FIRST_FD: RawFd = 3;

/// Descriptors are parked at or above this number before `exec`, so that placing them
/// at 3, 4, ... never overwrites one not yet placed.
const PARKING_FD: RawFd = 100;

/// The listening sockets this process was handed, in order, if it was started with
/// `LISTEN_FDS` (and `LISTEN_PID`, when set, is this process). The variables are removed
/// so that processes started from here do not take the sockets for theirs.
pub fn inherited_listeners() -> Option<Vec<TcpListener>> {
    let count: RawFd = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    // SAFETY: called at start-up, before any other thread reads the environment.
    unsafe {
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if !for_us || count <= 0 {
        return None;
    }
    let listeners = (FIRST_FD..FIRST_FD + count)
        .map(|fd| {
            // SAFETY: the protocol hands us descriptors 3..3+LISTEN_FDS, which nothing
            // else in this process owns. Marked close-on-exec so Python's subprocesses
            // do not inherit them.
            unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                TcpListener::from_raw_fd(fd)
            }
        })
        .collect();
    Some(listeners)
}

/// Sockets to hand to a child process as descriptors 3, 4, ...
#[derive(Debug)]
pub struct HandedSockets {
    parked: Vec<OwnedFd>,
}

impl HandedSockets {
    /// Duplicates of `listeners` (close-on-exec, so only the child they are handed to
    /// gets them).
    pub fn new(listeners: &[TcpListener]) -> io::Result<Self> {
        let parked = listeners
            .iter()
            .map(|listener| {
                // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
                let fd =
                    unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, PARKING_FD) };
                if fd < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    // SAFETY: `fd` was just created and is owned by nobody else.
                    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
                }
            })
            .collect::<io::Result<_>>()?;
        Ok(Self { parked })
    }

    /// Makes `command` start with the sockets as descriptors 3, 4, ... and
    /// `LISTEN_FDS` set (no `LISTEN_PID`: the child's pid is not known before it exists,
    /// and it is the only process started with these variables).
    pub fn hand_to(&self, command: &mut Command) {
        let fds: Vec<RawFd> = self.parked.iter().map(AsRawFd::as_raw_fd).collect();
        command
            .env("LISTEN_FDS", fds.len().to_string())
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

/// The readiness message `READY=1`, sent to `$NOTIFY_SOCKET` when set (else nothing),
/// with this process's id so the supervisor knows which child is ready, and the
/// directories whose changes are the server's own doing (uploads) to `ignore`.
pub fn notify_ready(ignore: &[&Path]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let mut message = format!("READY=1\nMAINPID={}\n", std::process::id());
    for dir in ignore {
        message.push_str(&format!("{IGNORE_KEY}{}\n", dir.display()));
    }
    let sent = UnixDatagram::unbound()
        .and_then(|socket| socket.send_to(message.as_bytes(), Path::new(&path)));
    if let Err(error) = sent {
        tracing::warn!(%error, "cannot tell the supervisor that the server is ready");
    }
}
