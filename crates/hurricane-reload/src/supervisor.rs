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

use std::collections::VecDeque;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hurricane_core::{Handler, ResponseBody, Server, ServerConfig};
use tokio::net::unix::pipe;
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, oneshot};

use crate::activation::{HandedSockets, IGNORE_KEY};
use crate::filter::IgnoredDirs;
use crate::watcher::Change;
use crate::ReloadError;

/// Lines of a child's output kept for the 503 page.
const TAIL_LINES: usize = 40;

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
        let sockets = HandedSockets::new(&self.listeners).map_err(ReloadError::Sockets)?;
        let ready = ReadySocket::bind()?;
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
                (pid, ignore) = ready.next() => {
                    for dir in ignore {
                        self.ignored.add(dir);
                    }
                    if pending.as_ref().is_some_and(|child| child.pid == pid) {
                        let Some(child) = pending.take() else { continue };
                        child.output.caught_up().await;
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
                    child.output.caught_up().await;
                    let serving = current.is_some();
                    child.log_failed(status, serving);
                    if !serving {
                        Fallback::show(&mut fallback, &self.listeners, child.output.tail());
                    }
                }
                status = exit_of(&mut current) => {
                    let Some(child) = current.take() else { continue };
                    child.output.caught_up().await;
                    tracing::error!(%status, "the server process exited; answering 503 until the next change");
                    Fallback::show(&mut fallback, &self.listeners, child.output.tail());
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
        ready: &ReadySocket,
        collect_static: bool,
        change: Option<Change>,
    ) -> Result<Child, ReloadError> {
        let mut command = (self.command)(collect_static);
        sockets.hand_to(&mut command);
        command
            .env("NOTIFY_SOCKET", &ready.path)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(ReloadError::Spawn)?;
        let pid = child.id().unwrap_or_default();
        let output = Output::relay(child.stderr.take());
        Ok(Child {
            process: child,
            pid,
            output,
            change,
        })
    }
}

/// One server process.
struct Child {
    process: tokio::process::Child,
    pid: u32,
    output: Output,
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

    /// SIGINT: stop accepting, finish in-flight requests, exit; killed after `grace`.
    /// Returns the task that waits for it.
    fn stop(mut self, grace: Duration) -> tokio::task::JoinHandle<()> {
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: kill(2) on our own child's pid; the child is not yet reaped (we
            // hold its handle), so the pid cannot name another process.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        tokio::spawn(async move {
            if tokio::time::timeout(grace, self.process.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    pid = self.pid,
                    "the replaced server did not stop in time; killing it"
                );
                let _ = self.process.kill().await;
            }
        })
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

async fn exit_of(child: &mut Option<Child>) -> ExitStatus {
    match child {
        Some(child) => match child.process.wait().await {
            Ok(status) => status,
            Err(error) => {
                tracing::error!(%error, "cannot wait for the server process");
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// A child's output (stderr), passed on to ours line by line as it comes, with its last
/// lines kept for the 503 page.
struct Output {
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Asks the relay to pass on everything written so far, and to say when it has.
    catch_up: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Output {
    fn relay(stderr: Option<tokio::process::ChildStderr>) -> Self {
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (catch_up, requests) = mpsc::unbounded_channel();
        let pipe = stderr.map(|stderr| {
            stderr
                .into_owned_fd()
                .and_then(pipe::Receiver::from_owned_fd)
        });
        match pipe {
            Some(Ok(pipe)) => {
                tokio::spawn(relay(pipe, Arc::clone(&tail), requests));
            }
            Some(Err(error)) => tracing::warn!(%error, "cannot read the server's output"),
            None => {}
        }
        Self { tail, catch_up }
    }

    /// Completes once every line the child wrote before now has been passed on. A child
    /// writes its log lines before it tells us anything (readiness, its exit), so the
    /// supervisor's own line about it then comes after them.
    async fn caught_up(&self) {
        let (done, caught_up) = oneshot::channel();
        if self.catch_up.send(done).is_ok() {
            // An error: the relay has ended, having passed on everything.
            let _ = caught_up.await;
        }
    }

    fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The relay task of [`Output`]: until the child closes its stderr.
async fn relay(
    pipe: pipe::Receiver,
    tail: Arc<Mutex<VecDeque<String>>>,
    mut catch_up: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut lines = LineSplitter::default();
    loop {
        let open = tokio::select! {
            readable = pipe.readable() => readable.is_ok() && lines.read_available(&pipe, &tail),
            Some(done) = catch_up.recv() => {
                let open = lines.read_available(&pipe, &tail);
                let _ = done.send(());
                open
            }
        };
        if !open {
            lines.finish(&tail);
            return;
        }
    }
}

/// Bytes read from a child, cut into lines.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Reads what the pipe holds now and passes on the complete lines. False at the end
    /// of the output.
    fn read_available(&mut self, pipe: &pipe::Receiver, tail: &Mutex<VecDeque<String>>) -> bool {
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.try_read(&mut buffer) {
                Ok(0) => return false,
                Ok(read) => self.partial.extend_from_slice(&buffer[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            pass_on(&line[..end], tail);
        }
        true
    }

    /// Passes on a last line without a newline.
    fn finish(&mut self, tail: &Mutex<VecDeque<String>>) {
        if !self.partial.is_empty() {
            pass_on(&std::mem::take(&mut self.partial), tail);
        }
    }
}

fn pass_on(line: &[u8], tail: &Mutex<VecDeque<String>>) {
    let line = String::from_utf8_lossy(line).into_owned();
    eprintln!("{line}");
    let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

/// Where children say they are ready (`NOTIFY_SOCKET`).
struct ReadySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: TempDir,
}

impl ReadySocket {
    fn bind() -> Result<Self, ReloadError> {
        let dir = TempDir::new().map_err(ReloadError::Sockets)?;
        let path = dir.0.join("notify.sock");
        let socket = UnixDatagram::bind(&path).map_err(ReloadError::Sockets)?;
        Ok(Self {
            socket,
            path,
            _dir: dir,
        })
    }

    /// The pid of the next child that says `READY=1`, and the directories it asks not
    /// to watch.
    async fn next(&self) -> (u32, Vec<PathBuf>) {
        let mut buffer = [0u8; 4096];
        loop {
            let Ok(len) = self.socket.recv(&mut buffer).await else {
                continue;
            };
            let message = String::from_utf8_lossy(&buffer[..len]);
            let ready = message.lines().any(|line| line == "READY=1");
            let pid = message
                .lines()
                .find_map(|line| line.strip_prefix("MAINPID="))
                .and_then(|pid| pid.parse().ok());
            let ignore = message
                .lines()
                .filter_map(|line| line.strip_prefix(IGNORE_KEY))
                .map(PathBuf::from)
                .collect();
            if let (true, Some(pid)) = (ready, pid) {
                return (pid, ignore);
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
