//! The supervisor: owns the listening sockets, runs the server as a child process that
//! inherits them, and replaces the child when the code changes, without a connection
//! being refused.
//!
//! A replacement starts the new child first and stops the old one only once the new one
//! says it is ready; meanwhile both accept from the same sockets, and connections that
//! arrive wait in the sockets' backlog, never refused. A new child that fails to start
//! leaves the old one serving. With no child serving (the first start failed, or the
//! child died), the supervisor answers every request itself with 503 and the failed
//! child's last lines of output, until a change brings a child that starts.
//!
//! Changes seen while a new child starts are not given to it (it may have imported the
//! files already) and do not stop it (it may be about to serve): they are merged into
//! one more replacement, started once the starting child serves or fails.
//!
//! A child's output is passed on line by line, and all of it that was written before
//! the child said it was ready (or exited) is passed on before the supervisor logs what
//! that means, so the log reads in the order things happened.
//!
//! Written for reuse by a production mode: [`Supervisor`] only knows how to start a
//! child ([`ChildCommand`]), hand it the sockets and wait for it to be ready; several
//! workers, crash restarts and SIGHUP rolling replacement build on the same parts.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hurricane_core::{Handler, ResponseBody, Server, ServerConfig};
use hurricane_supervisor::{ChildProcess, HandedSockets, Notification, NotifySocket, SocketRole};
use tokio::sync::{mpsc, oneshot};

use crate::filter::IgnoredDirs;
use crate::watcher::Change;
use crate::ReloadError;

/// Builds the command that starts one server process. `collect_static` asks it to run
/// `collectstatic` before serving.
pub type ChildCommand = Box<dyn Fn(bool) -> std::process::Command + Send>;

/// The autoreload supervisor: owns the listening sockets and runs the server as a child
/// process, replacing it when the project changes (see the crate docs).
pub struct Supervisor {
    listeners: Vec<TcpListener>,
    command: ChildCommand,
    /// Where directories reported by children as not worth a reload go.
    ignored: IgnoredDirs,
    /// How long a replaced child may take to finish its requests before it is killed.
    grace: Duration,
}

impl Supervisor {
    /// `listeners` are handed to every child as descriptors 3, 4, ... in this order.
    /// Directories a child reports in its readiness message (MEDIA_ROOT) are added to
    /// `ignored`.
    pub fn new(
        listeners: Vec<TcpListener>,
        command: ChildCommand,
        ignored: IgnoredDirs,
        grace: Duration,
    ) -> Self {
        Self {
            listeners,
            command,
            ignored,
            grace,
        }
    }

    /// Runs children until `stop` completes, replacing the child on every change.
    pub async fn run(
        self,
        mut changes: mpsc::UnboundedReceiver<Change>,
        stop: impl Future<Output = ()>,
    ) -> Result<(), ReloadError> {
        let roles = [SocketRole::App, SocketRole::Probes];
        let sockets = HandedSockets::new(
            roles
                .into_iter()
                .zip(self.listeners.iter().map(AsFd::as_fd)),
        )
        .map_err(ReloadError::Sockets)?;
        let ready = NotifySocket::bind().map_err(ReloadError::Sockets)?;
        let mut current: Option<Child> = None;
        let mut pending = Some(self.spawn(&sockets, &ready, false, None)?);
        // Changes seen while `pending` starts: one more reload once it is done.
        let mut queued: Option<Change> = None;
        let mut fallback: Option<Fallback> = None;
        let mut collect_static = false;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(change) = changes.recv() => {
                    collect_static |= change.touches_static;
                    if pending.is_some() {
                        // The starting child may have imported the file before this
                        // change: it cannot be trusted with it, nor be stopped without
                        // loss (it may be about to serve).
                        queued = Some(match queued.take() {
                            Some(earlier) => earlier.followed_by(change),
                            None => change,
                        });
                    } else {
                        pending = Some(self.spawn(&sockets, &ready, collect_static, Some(change))?);
                    }
                }
                notification = ready.next() => {
                    let Notification::Ready { pid, ignore } = notification else { continue };
                    for dir in ignore {
                        self.ignored.add(dir);
                    }
                    if pending.as_ref().is_some_and(|child| child.process.pid == pid) {
                        let Some(child) = pending.take() else { continue };
                        child.process.output.caught_up().await;
                        child.log_ready();
                        collect_static = false;
                        if let Some(fallback) = fallback.take() {
                            fallback.stop();
                        }
                        if let Some(old) = current.replace(child) {
                            old.stop(self.grace);
                        }
                    }
                }
                status = exit_of(&mut pending) => {
                    let Some(child) = pending.take() else { continue };
                    child.process.output.caught_up().await;
                    let serving = current.is_some();
                    child.log_failed(status, serving);
                    if !serving {
                        Fallback::show(&mut fallback, &self.listeners, child.process.output.tail());
                    }
                }
                status = exit_of(&mut current) => {
                    let Some(child) = current.take() else { continue };
                    child.process.output.caught_up().await;
                    tracing::error!(%status, "the server process exited; answering 503 until the next change");
                    Fallback::show(&mut fallback, &self.listeners, child.process.output.tail());
                }
            }
            if pending.is_none() {
                if let Some(change) = queued.take() {
                    pending = Some(self.spawn(&sockets, &ready, collect_static, Some(change))?);
                }
            }
        }
        if let Some(fallback) = fallback.take() {
            fallback.stop();
        }
        let stopping: Vec<_> = pending
            .into_iter()
            .chain(current)
            .map(|child| child.stop(self.grace))
            .collect();
        for stopped in stopping {
            let _ = stopped.await;
        }
        Ok(())
    }

    fn spawn(
        &self,
        sockets: &HandedSockets,
        ready: &NotifySocket,
        collect_static: bool,
        change: Option<Change>,
    ) -> Result<Child, ReloadError> {
        let command = (self.command)(collect_static);
        let process = ChildProcess::spawn(command, sockets, ready).map_err(ReloadError::Spawn)?;
        Ok(Child { process, change })
    }
}

/// One server process.
struct Child {
    process: ChildProcess,
    /// The change it was started for (none for the first child).
    change: Option<Change>,
}

impl Child {
    fn log_ready(&self) {
        let Some(change) = &self.change else {
            return;
        };
        let seconds = change.first_seen.elapsed().as_secs_f64();
        let what = describe(change);
        tracing::info!(seconds, changed = %what, "Reloaded in {seconds:.2} s after a change to {what}");
    }

    fn log_failed(&self, status: ExitStatus, serving: bool) {
        let what = self.change.as_ref().map_or_else(
            || "start-up".to_owned(),
            |c| format!("a change to {}", describe(c)),
        );
        if serving {
            tracing::error!(%status, "Reload failed after {what}; still serving the previous code");
        } else {
            tracing::error!(%status, "Reload failed after {what}; answering 503 until the next change");
        }
    }

    /// Stops it gracefully (see [`ChildProcess::stop`]).
    fn stop(self, grace: Duration) -> tokio::task::JoinHandle<Option<ExitStatus>> {
        self.process.stop(grace)
    }
}

/// "demo/views.py", or "demo/views.py and 2 more".
fn describe(change: &Change) -> String {
    let first = change
        .paths
        .first()
        .map_or_else(|| "?".to_owned(), |p| p.display().to_string());
    match change.paths.len() {
        0 | 1 => first,
        n => format!("{first} and {} more", n - 1),
    }
}

/// The supervisor's own answer while no child serves: 503 with the error.
struct Fallback {
    message: Arc<Mutex<Bytes>>,
    stops: Vec<oneshot::Sender<()>>,
}

impl Fallback {
    /// Serves `error` on every listener, or updates the text if already serving.
    fn show(fallback: &mut Option<Fallback>, listeners: &[TcpListener], error: String) {
        let text = Bytes::from(format!(
            "The server could not start; hurricane --autoreload restarts it on the next change.\n\n{error}\n"
        ));
        if let Some(fallback) = fallback {
            *fallback.message.lock().unwrap_or_else(|p| p.into_inner()) = text;
            return;
        }
        let message = Arc::new(Mutex::new(text));
        let mut stops = Vec::new();
        for listener in listeners {
            let handler = Unavailable {
                message: Arc::clone(&message),
            };
            let addr = listener
                .local_addr()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            let config = ServerConfig {
                graceful_timeout: Duration::from_secs(1),
                ..ServerConfig::new(addr)
            };
            let server = listener
                .try_clone()
                .map_err(hurricane_core::ServerError::Adopt)
                .and_then(|l| Server::from_listener(l, config));
            match server {
                Ok(server) => {
                    let (stop, stopped) = oneshot::channel::<()>();
                    tokio::spawn(server.serve(handler, async move {
                        let _ = stopped.await;
                    }));
                    stops.push(stop);
                }
                Err(error) => tracing::error!(%error, "cannot answer 503 while no server runs"),
            }
        }
        *fallback = Some(Fallback { message, stops });
    }

    fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
    }
}

struct Unavailable {
    message: Arc<Mutex<Bytes>>,
}

impl Handler for Unavailable {
    async fn call(&self, _: Request<Bytes>) -> Response<ResponseBody> {
        let body = self
            .message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut response = Response::new(ResponseBody::full(body));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }
}

async fn exit_of(child: &mut Option<Child>) -> ExitStatus {
    match child {
        Some(child) => child.process.exited().await,
        None => std::future::pending().await,
    }
}
