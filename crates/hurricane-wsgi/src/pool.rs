//! The pool of long-lived Python threads that run the application.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// A unit of Python work: runs on a pool thread with the GIL held.
pub(crate) type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// How long the queue may go without a request starting before one more thread is let in.
pub const STALL: Duration = Duration::from_millis(2);

/// How long the queue must keep moving before one thread fewer is allowed to run.
pub const CALM: Duration = Duration::from_millis(50);

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
/// Work waits in a FIFO queue: a request waiting for a thread costs a queue entry, not a
/// thread, and the queue's length is measured ([`PoolStats::queued`]).
///
/// # How many threads run
/// Only a thread that holds the GIL takes work from the queue: a running thread takes the
/// next request without releasing the GIL, and a woken thread first acquires the GIL and
/// only then looks at the queue. No request waits for the GIL inside a thread while
/// another thread could have run it.
///
/// How many threads may run at once (`allowed`, between 1 and the pool size) follows the
/// queue: when it goes [`STALL`] without a request starting, the running threads are
/// waiting outside the GIL (database, network, `time.sleep`) or busy with one long
/// request, so one more thread is let in; when it keeps moving for [`CALM`], one thread
/// fewer is allowed, and the next to finish a request goes idle. So:
/// - while requests compute, one thread drains the queue back to back with no GIL
///   hand-offs: the throughput of a single-threaded server;
/// - while requests wait on I/O, threads are added one per stall, up to the pool size;
/// - a request that computes for long holds up the queue behind it for at most a stall
///   plus CPython's switch interval.
#[derive(Debug, Clone)]
pub struct PythonPool {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Schedule>,
    wake: Condvar,
    stats: Arc<PoolStats>,
    /// When a request last started, in microseconds since `epoch`.
    last_start_us: AtomicU64,
    epoch: OnceLock<Instant>,
    /// The stall watcher, unparked when work arrives while threads are running.
    watcher: OnceLock<Thread>,
    /// The watcher sleeps until unparked (nothing queued); while it ticks, submitting
    /// work need not wake it.
    watcher_asleep: AtomicBool,
}

/// The queue and who may take from it; guarded by one lock.
#[derive(Default)]
struct Schedule {
    queue: VecDeque<Job>,
    /// Threads not waiting to be woken.
    running: usize,
    /// Threads allowed to run at once.
    allowed: usize,
    /// Threads in the pool.
    size: usize,
    /// Wake-ups granted but not yet taken by a waiting thread.
    wake_tokens: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // No user code runs under the lock, so a poisoned lock still holds consistent
        // state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_us(&self) -> u64 {
        let epoch = self.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The next request for a running thread (which holds the GIL), or `None` when the
    /// thread should stop running: the queue is empty, or fewer threads are allowed.
    fn next_job(&self) -> Option<Job> {
        let mut schedule = self.schedule();
        let job = if schedule.running > schedule.allowed {
            None
        } else {
            schedule.queue.pop_front()
        };
        match job {
            Some(job) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                self.last_start_us.store(self.now_us(), Ordering::Relaxed);
                Some(job)
            }
            None => {
                schedule.running -= 1;
                None
            }
        }
    }

    /// Blocks (call it with the GIL released) until this thread is let in to run.
    fn wait_to_run(&self) {
        let mut schedule = self.schedule();
        while schedule.wake_tokens == 0 {
            schedule = self
                .wake
                .wait(schedule)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        schedule.wake_tokens -= 1;
        schedule.running += 1;
    }

    /// Lets one more thread run, if one is waiting. Called with the lock held.
    fn let_one_in(&self, schedule: &mut Schedule) -> bool {
        let waiting = schedule.size - schedule.running - schedule.wake_tokens;
        if waiting == 0 {
            return false;
        }
        schedule.wake_tokens += 1;
        self.wake.notify_one();
        true
    }

    /// Adjusts `allowed` to the queue's progress. Runs on its own thread, without Python,
    /// and only ticks while requests are queued or more than one thread is allowed.
    fn watch(&self) {
        let mut calm_since = Instant::now();
        loop {
            let idle = {
                let schedule = self.schedule();
                schedule.queue.is_empty() && schedule.allowed <= 1
            };
            if idle {
                self.watcher_asleep.store(true, Ordering::SeqCst);
                // Work queued between the check above and this flag wakes us up below.
                // SeqCst on both sides (here and in `submit`): either this load sees the
                // new work, or `submit` sees the flag and unparks.
                if self.stats.queued.load(Ordering::SeqCst) == 0 {
                    std::thread::park();
                }
                self.watcher_asleep.store(false, Ordering::SeqCst);
                calm_since = Instant::now();
                continue;
            }
            std::thread::park_timeout(STALL / 2);
            let stalled_for = self
                .now_us()
                .saturating_sub(self.last_start_us.load(Ordering::Relaxed));
            let mut schedule = self.schedule();
            if !schedule.queue.is_empty() && stalled_for >= STALL.as_micros() as u64 {
                if schedule.allowed < schedule.size {
                    schedule.allowed += 1;
                }
                if self.let_one_in(&mut schedule) {
                    // Count the wake-up as progress, so one stall lets in one thread.
                    self.last_start_us.store(self.now_us(), Ordering::Relaxed);
                }
                calm_since = Instant::now();
            } else if calm_since.elapsed() >= CALM {
                schedule.allowed = schedule.allowed.saturating_sub(1).max(1);
                calm_since = Instant::now();
            }
        }
    }
}

impl PythonPool {
    /// Starts `threads` Python threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let size = threads.max(1);
        let shared = Arc::new(Shared::default());
        {
            let mut schedule = shared.schedule();
            schedule.size = size;
            schedule.allowed = 1;
        }
        let watcher = Arc::clone(&shared);
        let watcher = std::thread::Builder::new()
            .name("python-pool-watch".into())
            .spawn(move || watcher.watch())?;
        let _ = shared.watcher.set(watcher.thread().clone());
        for index in 0..size {
            let worker = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("python-{index}"))
                .spawn(move || run_worker(&worker))?;
            shared.stats.threads.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Self { shared })
    }

    /// The pool's live counters.
    pub fn stats(&self) -> Arc<PoolStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Queues `job` for the next Python thread that holds the GIL.
    pub(crate) fn submit(&self, job: Job) {
        let shared = &self.shared;
        shared.stats.queued.fetch_add(1, Ordering::SeqCst);
        let mut schedule = shared.schedule();
        schedule.queue.push_back(job);
        if schedule.running + schedule.wake_tokens == 0 {
            shared.let_one_in(&mut schedule);
        } else if shared.watcher_asleep.load(Ordering::SeqCst) {
            drop(schedule);
            if let Some(watcher) = shared.watcher.get() {
                watcher.unpark();
            }
        }
    }
}

fn run_worker(shared: &Shared) {
    let stats = &shared.stats;
    Python::attach(|py| loop {
        // Returns once this thread is let in and holds the GIL again.
        py.detach(|| shared.wait_to_run());
        while let Some(job) = shared.next_job() {
            stats.busy.fetch_add(1, Ordering::Relaxed);
            // A bug in one request must not take a Python thread down with it; the
            // request's reply channel is dropped with the job, so its client gets a 503.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py))).is_err() {
                tracing::error!("a request panicked on a Python thread; the thread goes on");
            }
            stats.busy.fetch_sub(1, Ordering::Relaxed);
        }
    });
}
