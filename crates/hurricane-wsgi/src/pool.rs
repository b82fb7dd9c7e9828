//! The pool of long-lived Python threads that run the application.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use pyo3::prelude::*;

/// A unit of Python work: runs on a pool thread with the GIL held.
pub(crate) type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// Live counters of a [`PythonPool`], readable without the GIL (for probes and metrics).
#[derive(Debug, Default)]
pub struct PoolStats {
    queued: AtomicUsize,
    busy: AtomicUsize,
    threads: AtomicUsize,
}

impl PoolStats {
    /// Requests waiting for a Python thread.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
    /// Python threads running a request.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }
    /// Python threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads.load(Ordering::Relaxed)
    }
}

/// A fixed set of OS threads, each attached to the interpreter once for its whole life.
///
/// Work waits in an unbounded queue: a request waiting for a thread costs a queue entry,
/// not a thread, and the queue's length is measured ([`PoolStats::queued`]).
///
/// A thread releases the GIL only when the queue is empty. While requests are waiting it
/// takes the next one with the GIL still held, so a busy CPU-bound pool does not hand the
/// GIL back and forth between its threads on every request.
#[derive(Debug, Clone)]
pub struct PythonPool {
    sender: Sender<Job>,
    stats: Arc<PoolStats>,
}

impl PythonPool {
    /// Starts `threads` Python threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let stats = Arc::new(PoolStats::default());
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            let worker_stats = Arc::clone(&stats);
            std::thread::Builder::new()
                .name(format!("python-{index}"))
                .spawn(move || run_worker(&receiver, &worker_stats))?;
            stats.threads.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Self { sender, stats })
    }

    /// The pool's live counters.
    pub fn stats(&self) -> Arc<PoolStats> {
        Arc::clone(&self.stats)
    }

    /// Queues `job` for the next free Python thread.
    pub(crate) fn submit(&self, job: Job) {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if self.sender.send(job).is_err() {
            // Only possible once every worker thread has exited, i.e. while the process is
            // going down; the job's reply channel is dropped and its caller answers 503.
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn run_worker(receiver: &Receiver<Job>, stats: &PoolStats) {
    Python::attach(|py| loop {
        let job = match receiver.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Empty) => match py.detach(|| receiver.recv()) {
                Ok(job) => job,
                Err(_) => break,
            },
            Err(TryRecvError::Disconnected) => break,
        };
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        stats.busy.fetch_add(1, Ordering::Relaxed);
        // A bug in one request must not take a Python thread down with it; the request's
        // reply channel is dropped with the job, so its client gets a 503.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py))).is_err() {
            tracing::error!("a request panicked on a Python thread; the thread goes on");
        }
        stats.busy.fetch_sub(1, Ordering::Relaxed);
    });
}
