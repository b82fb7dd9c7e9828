//! The supervisor's end of `NOTIFY_SOCKET`: where children say they serve, or ask to be
//! replaced.

use std::path::PathBuf;

use tokio::net::UnixDatagram;

use crate::activation::{IGNORE_KEY, METRICS_KEY, RETIRE_KEY};

/// The largest notification read (a process's metrics are tens of KiB).
const MAX_NOTIFICATION: usize = 1 << 20;

/// What a child said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// It serves (`READY=1`); changes under `ignore` are its own doing (uploads).
    Ready {
        /// Its process id.
        pid: u32,
        /// Directories whose changes must not reload.
        ignore: Vec<PathBuf>,
    },
    /// Its metrics as it stops, after its last request.
    Metrics {
        /// Its process id.
        pid: u32,
        /// The Prometheus text.
        text: String,
    },
    /// It asks to be replaced gracefully.
    Retire {
        /// Its process id.
        pid: u32,
        /// Why, in a word (`max-requests`, ...).
        reason: String,
    },
}

impl Notification {
    /// Reads one datagram; `None` for messages that are neither, or name no process.
    fn parse(message: &str) -> Option<Self> {
        if let Some(rest) = message.strip_prefix(METRICS_KEY) {
            let (pid, text) = rest.split_once('\n')?;
            return Some(Notification::Metrics {
                pid: pid.parse().ok()?,
                text: text.to_owned(),
            });
        }
        let pid = message
            .lines()
            .find_map(|line| line.strip_prefix("MAINPID="))
            .and_then(|pid| pid.parse().ok())?;
        if let Some(reason) = message.lines().find_map(|l| l.strip_prefix(RETIRE_KEY)) {
            return Some(Notification::Retire {
                pid,
                reason: reason.to_owned(),
            });
        }
        if !message.lines().any(|line| line == "READY=1") {
            return None;
        }
        let ignore = message
            .lines()
            .filter_map(|line| line.strip_prefix(IGNORE_KEY))
            .map(PathBuf::from)
            .collect();
        Some(Notification::Ready { pid, ignore })
    }
}

/// Where children send their notifications (`NOTIFY_SOCKET`), in a private temporary
/// directory removed on drop.
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: TempDir,
}

impl NotifySocket {
    /// A new socket in a directory of its own.
    pub fn bind() -> std::io::Result<Self> {
        let dir = TempDir::new()?;
        let path = dir.0.join("notify.sock");
        let socket = UnixDatagram::bind(&path)?;
        Ok(Self {
            socket,
            path,
            _dir: dir,
        })
    }

    /// The socket's path, for the children's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The next notification a child sends.
    pub async fn next(&self) -> Notification {
        loop {
            // Cancel-safe: a datagram is only taken by `try_next`, which never waits,
            // and its buffer is only allocated once one has arrived.
            if self.socket.readable().await.is_err() {
                continue;
            }
            if let Some(notification) = self.try_next() {
                return notification;
            }
        }
    }

    /// A notification already received, if any, without waiting.
    pub fn try_next(&self) -> Option<Notification> {
        let mut buffer = vec![0u8; MAX_NOTIFICATION];
        loop {
            let len = self.socket.try_recv(&mut buffer).ok()?;
            if let Some(notification) =
                Notification::parse(&String::from_utf8_lossy(&buffer[..len]))
            {
                return Some(notification);
            }
        }
    }
}

/// A private directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("hurricane-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_and_retirement_are_told_apart() {
        assert_eq!(
            Notification::parse("READY=1\nMAINPID=42\nX_HURRICANE_IGNORE=/media\n"),
            Some(Notification::Ready {
                pid: 42,
                ignore: vec![PathBuf::from("/media")]
            })
        );
        assert_eq!(
            Notification::parse("MAINPID=42\nX_HURRICANE_RETIRE=max-requests\n"),
            Some(Notification::Retire {
                pid: 42,
                reason: "max-requests".into()
            })
        );
        assert_eq!(Notification::parse("READY=1\n"), None);
        assert_eq!(Notification::parse("MAINPID=42\nSTATUS=busy\n"), None);
    }
}
