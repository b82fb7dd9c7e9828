//! A child's output (stderr), passed on to ours line by line as it comes, with its last
//! lines kept (for the 503 page of `--autoreload`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// Lines of a child's output kept.
const TAIL_LINES: usize = 40;

/// A child's output, relayed.
pub struct Output {
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Asks the relay to pass on everything written so far, and to say when it has.
    catch_up: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Output {
    /// Starts relaying `stderr` (nothing to relay when `None`).
    pub fn relay(stderr: Option<tokio::process::ChildStderr>) -> Self {
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
    pub async fn caught_up(&self) {
        let (done, caught_up) = oneshot::channel();
        if self.catch_up.send(done).is_ok() {
            // An error: the relay has ended, having passed on everything.
            let _ = caught_up.await;
        }
    }

    /// The last lines, joined.
    pub fn tail(&self) -> String {
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
