//! One server process run by a supervisor: started with its sockets and `NOTIFY_SOCKET`,
//! its output relayed, stopped gracefully or killed.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::activation::HandedSockets;
use crate::notify::NotifySocket;
use crate::output::Output;

/// A running server process.
pub struct ChildProcess {
    process: tokio::process::Child,
    /// Its process id.
    pub pid: u32,
    /// Its stderr, relayed to ours.
    pub output: Output,
}

impl ChildProcess {
    /// Starts `command` with `sockets` as descriptors 3, 4, ... and `NOTIFY_SOCKET` set
    /// to `notify`. Killed if dropped while running.
    pub fn spawn(
        mut command: std::process::Command,
        sockets: &HandedSockets,
        notify: &NotifySocket,
    ) -> std::io::Result<Self> {
        sockets.hand_to(&mut command);
        command
            .env("NOTIFY_SOCKET", notify.path())
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()?;
        let pid = process.id().unwrap_or_default();
        // Before anything else runs on this thread: see `reaper`.
        crate::reaper::register(pid);
        let output = Output::relay(process.stderr.take());
        Ok(Self {
            process,
            pid,
            output,
        })
    }

    /// Completes when the process exits, with its status.
    pub async fn exited(&mut self) -> ExitStatus {
        match self.process.wait().await {
            Ok(status) => status,
            Err(error) => {
                tracing::error!(%error, pid = self.pid, "cannot wait for a server process");
                std::future::pending().await
            }
        }
    }

    /// Sends `signal` (while the process is not reaped, so the pid is still its own).
    pub fn signal(&self, signal: libc::c_int) {
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: kill(2) on our own child's pid; the child is not yet reaped (we
            // hold its handle), so the pid cannot name another process.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// SIGINT: the server stops accepting, finishes its in-flight requests and exits;
    /// killed if it has not after `grace`. Returns the task that waits for it.
    pub fn stop(mut self, grace: Duration) -> tokio::task::JoinHandle<Option<ExitStatus>> {
        self.signal(libc::SIGINT);
        tokio::spawn(async move {
            match tokio::time::timeout(grace, self.process.wait()).await {
                Ok(status) => status.ok(),
                Err(_) => {
                    tracing::warn!(
                        pid = self.pid,
                        grace_s = grace.as_secs_f64(),
                        "a replaced server process did not stop in time; killing it"
                    );
                    let _ = self.process.kill().await;
                    None
                }
            }
        })
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        crate::reaper::forget(self.pid);
    }
}
