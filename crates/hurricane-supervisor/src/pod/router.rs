//! The pod's accept loop: every connection goes to the serving process with the fewest
//! open connections, passing over one whose liveness check just failed or that looks
//! stuck ([`Handoff::stalled`]); [`crate::handoff`] says why the supervisor accepts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::handoff::Handoff;

/// A process connections may go to.
#[derive(Clone)]
struct Route {
    pid: u32,
    handoff: Arc<Handoff>,
    /// Its last liveness check failed.
    failing: bool,
}

impl Route {
    /// Lower is better: a failing process last, then one that looks stuck, then by
    /// open connections.
    fn load(&self) -> (bool, bool, usize) {
        (self.failing, self.handoff.stalled(), self.handoff.open())
    }
}

/// How long handing a connection to a process may wait for room in its handoff before
/// the connection goes to another, so that one process taking none holds up no other.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// The processes connections may go to.
#[derive(Default)]
pub(crate) struct Routes {
    serving: Mutex<Vec<Route>>,
    changed: Notify,
    /// Where the search for the least loaded starts, moved on every time, so that ties
    /// (idle processes, or one client connecting again and again) take turns.
    cursor: AtomicUsize,
    /// Every process has served once: connections are handed over from then on.
    opened: AtomicBool,
}

impl Routes {
    /// Sends connections to `pid` from now on.
    pub fn add(&self, pid: u32, handoff: Arc<Handoff>) {
        self.lock().push(Route {
            pid,
            handoff,
            failing: false,
        });
        self.changed.notify_waiters();
    }

    /// No more connections for `pid`; its handoff ends once those on their way are
    /// delivered.
    pub fn remove(&self, pid: u32) {
        let mut serving = self.lock();
        if let Some(index) = serving.iter().position(|route| route.pid == pid) {
            serving.remove(index).handoff.finish();
        }
    }

    /// Whether `pid`'s last liveness check failed: it gets new connections only when
    /// every other process's failed too.
    pub fn set_failing(&self, pid: u32, failing: bool) {
        if let Some(route) = self.lock().iter_mut().find(|route| route.pid == pid) {
            route.failing = failing;
        }
    }

    /// Hands connections over from now on. Until the pod has started, they wait (the
    /// first in the supervisor, the others in the backlog): a keep-alive client that
    /// connected while only one process served would stay on it for good, leaving the
    /// others idle.
    pub fn open(&self) {
        self.opened.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Ends every handoff (the pod stops).
    pub fn clear(&self) {
        for route in self.lock().drain(..) {
            route.handoff.finish();
        }
    }

    /// How many processes take connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The serving process with the fewest open connections, waiting for one if none
    /// serves, or the pod has not started (the connection waits meanwhile, and new ones
    /// in the backlog).
    async fn least_loaded(&self) -> (u32, Arc<Handoff>) {
        loop {
            let changed = self.changed.notified();
            {
                let serving = self.lock();
                if !self.opened.load(Ordering::Acquire) {
                    drop(serving);
                    changed.await;
                    continue;
                }
                let start = self.cursor.fetch_add(1, Ordering::Relaxed);
                let turn = (0..serving.len()).map(|i| &serving[(start + i) % serving.len()]);
                if let Some(best) = turn.min_by_key(|route| route.load()) {
                    return (best.pid, Arc::clone(&best.handoff));
                }
            }
            changed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Route>> {
        self.serving.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts connections and hands each to a serving process, until the task is aborted.
pub(crate) async fn accept_loop(listener: TcpListener, routes: Arc<Routes>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Usually EMFILE/ENFILE: back off instead of spinning on the error.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        loop {
            let (pid, handoff) = routes.least_loaded().await;
            match tokio::time::timeout(SEND_TIMEOUT, handoff.send(&stream)).await {
                Ok(Ok(())) => break,
                Ok(Err(error)) => {
                    // The process is gone: the connection is still ours; try another.
                    tracing::debug!(pid, %error, "cannot hand a connection over");
                    routes.remove(pid);
                }
                // Its handoff is full (it takes no connections: --max-connections, or
                // it is stuck): the next one in turn gets this connection.
                Err(_) => tracing::debug!(pid, "a server process takes no more connections"),
            }
        }
    }
}
