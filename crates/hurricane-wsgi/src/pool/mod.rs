//! The pool of long-lived Python threads that run the application, how many of them
//! may run at once ([`admission`]), and which are stuck in a request whose deadline
//! passed (`ticket`).

pub mod admission;
mod clock;
mod ticket;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

pub use admission::Concurrency;
use admission::{Admission, Window, STALL};
use clock::{ThreadClock, Usage};
use ticket::Expiry;
pub(crate) use ticket::Ticket;

/// A unit of Python work: runs on a pool thread with the GIL held.
pub(crate) type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// A queued job, with the ticket of its deadline if it has one.
struct Work {
    job: Job,
    ticket: Option<Arc<Ticket>>,
}

/// Live counters of a [`PythonPool`], readable without the GIL (for probes and metrics).
#[derive(Debug, Default)]
pub struct PoolStats {
    queued: AtomicUsize,
    busy: AtomicUsize,
    threads: AtomicUsize,
    stuck: AtomicUsize,
    timeouts: AtomicU64,
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

    /// Python threads stuck in a request that timed out (`WsgiHandler::with_timeout`):
    /// its client got a 504, but a Python thread cannot be stopped, so it runs on until
    /// its call returns, and serves nothing else meanwhile. Each one is a thread fewer
    /// for the other requests (see [`PythonPool`]); once all of them are stuck, nothing
    /// is served. A process that has more stuck threads than its operator tolerates is
    /// one to replace (the only way to stop them), which is what a supervisor reading
    /// this (or the `hurricane_stuck_requests` gauge) is for.
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::Relaxed)
    }

    /// Requests answered 504 so far because their deadline passed, queued or running.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }
}

/// A fixed set of OS threads, each attached to the interpreter once for its whole life.
///
/// Work waits in a FIFO queue: a request waiting for a thread costs a queue entry, not a
/// thread, and the queue's length is measured ([`PoolStats::queued`], which readiness
/// reads).
///
/// # How many threads run
/// Only a thread that holds the GIL takes work from the queue: a running thread takes the
/// next request without releasing the GIL, and a woken thread first acquires the GIL and
/// only then looks at the queue. No request waits for the GIL inside a thread while
/// another thread could have run it.
///
/// How many threads may run at once is decided by [`Concurrency`]: all of them
/// ([`Concurrency::Fixed`]), or, by default, as many as the load can use
/// ([`Concurrency::Adaptive`]). A watcher thread (`python-pool-watch`, no Python) then
/// reads the running threads' clocks every [`WINDOW`](admission::WINDOW) (every
/// [`CALM_WINDOW`](admission::CALM_WINDOW) once every thread may run and the GIL is not
/// saturated), watches the queue for stalls, and applies the rules documented in the
/// `admission` module:
/// - while requests compute, one thread drains the queue back to back with no GIL
///   hand-offs: the throughput of a single-threaded server;
/// - while they wait outside the GIL (database, network, `time.sleep`), more threads are
///   let in, at most half as many again per window, until the GIL is busy or the pool
///   is full;
/// - a queue that does not move for [`STALL`] lets one more thread in, so a long
///   computation holds up the requests behind it for a few milliseconds, not its length.
///
/// The thread let in next is the one that stopped last (its caches are warm), so a load
/// that needs one thread at a time runs on one thread, as `top -H` shows. The watcher
/// sleeps while nothing is queued and at most one thread runs, so an idle server does no
/// work.
///
/// # Stuck threads
/// A request with a deadline (`--timeout`, see `WsgiHandler::with_timeout`) that has not
/// started its response when the deadline passes leaves its thread stuck in it: the
/// thread cannot be stopped. A stuck thread is counted out of the running threads (and
/// out of the watcher's clock readings), as if it had stopped: under either
/// [`Concurrency`] another thread is let in at once if requests are queued, so the
/// others keep being served while a thread is left. When its call returns, its response
/// is dropped and the thread counts as running again, taking work as before. The pool
/// does not start threads beyond its size to replace stuck ones: `--workers` is also the
/// most database connections the process opens. Once every thread is stuck, requests
/// wait in the queue, readiness fails at `--req-queue-len`, and each queued request is
/// answered 504 at its own deadline without running (it stays counted in the queue until
/// a thread is free to skip it); [`PoolStats::stuck`] tells when the process needs
/// replacing.
#[derive(Debug, Clone)]
pub struct PythonPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<Schedule>,
    stats: Arc<PoolStats>,
    /// One per thread of the pool, by index.
    slots: Vec<ThreadSlot>,
    /// When a request last started, in microseconds since `epoch`.
    last_start_us: AtomicU64,
    epoch: Instant,
    /// The watcher, unparked when work arrives while it sleeps.
    watcher: OnceLock<Thread>,
    watcher_asleep: AtomicBool,
}

/// One pool thread: how it is woken, and what the watcher knows of it.
#[derive(Default)]
struct ThreadSlot {
    /// Signalled (under the schedule's lock) when the thread is let in.
    wake: Condvar,
    /// Set by the thread itself when it starts.
    clock: OnceLock<ThreadClock>,
    /// Its `threading.get_ident()`, set by the thread itself when it starts: the key of
    /// its frame in `sys._current_frames()`.
    ident: OnceLock<u64>,
    /// Let in to run (holding or waiting for the GIL, or running a request).
    running: AtomicBool,
    /// Let in or stopped since the watcher last read its clock.
    ran_since_sample: AtomicBool,
}

/// The queue and who may take from it; guarded by one lock.
#[derive(Default)]
struct Schedule {
    queue: VecDeque<Work>,
    /// Threads not waiting to be woken, and not stuck.
    running: usize,
    /// Threads allowed to run at once.
    allowed: usize,
    /// Waiting threads, by slot index, the most recently stopped last: the next one let
    /// in is the one whose caches are warmest, and a load that needs one thread at a time
    /// keeps running on the same thread.
    idle: Vec<usize>,
    /// Per slot: let in, but not yet running.
    let_in: Vec<bool>,
    /// How many of `let_in` are set.
    coming: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The state of a pool of `size` threads (none started) of which `allowed` may run.
    fn new(size: usize, allowed: usize) -> Self {
        Self {
            state: Mutex::new(Schedule {
                allowed,
                let_in: vec![false; size],
                ..Schedule::default()
            }),
            stats: Arc::new(PoolStats::default()),
            slots: (0..size).map(|_| ThreadSlot::default()).collect(),
            last_start_us: AtomicU64::new(0),
            epoch: Instant::now(),
            watcher: OnceLock::new(),
            watcher_asleep: AtomicBool::new(false),
        }
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // No user code runs under the lock, so a poisoned lock still holds consistent
        // state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The next request for a running thread (which holds the GIL), or `None` when the
    /// thread should stop running: the queue is empty, or fewer threads are allowed.
    fn next_job(&self, slot: &ThreadSlot) -> Option<Work> {
        let mut schedule = self.schedule();
        let job = if schedule.running > schedule.allowed {
            None
        } else {
            schedule.queue.pop_front()
        };
        match job {
            Some(job) => {
                self.call_off_surplus(&mut schedule);
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                self.last_start_us.store(self.now_us(), Ordering::Relaxed);
                Some(job)
            }
            None => {
                schedule.running -= 1;
                slot.running.store(false, Ordering::Relaxed);
                // Its time up to now belongs to the current window.
                slot.ran_since_sample.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// A running thread took a request that a thread let in for it was woken to take:
    /// that thread goes back to waiting while it still can, before it acquires the GIL.
    /// Without this, a thread let in when a request arrived waited for the GIL while the
    /// GIL's holder finished its own request and took the new one, and then found nothing
    /// to do: measured, half of all wake-ups on a view that sleeps 10 ms, each one a GIL
    /// acquisition for nothing in the queue of threads waiting for it. Called with the
    /// lock held.
    fn call_off_surplus(&self, schedule: &mut Schedule) {
        while schedule.coming > schedule.queue.len() {
            // Any of them: none has seen its `let_in` yet (a thread that has is no longer
            // coming).
            let Some(index) = schedule.let_in.iter().rposition(|&let_in| let_in) else {
                return;
            };
            schedule.let_in[index] = false;
            schedule.coming -= 1;
            // Woken or not, it finds `let_in` unset and waits on: it is idle again, and
            // the next one let in, as it may be awake already.
            schedule.idle.push(index);
        }
    }

    /// Blocks (call it with the GIL released) until this thread is let in to run.
    fn wait_to_run(&self, index: usize) {
        let slot = &self.slots[index];
        let mut schedule = self.schedule();
        schedule.idle.push(index);
        // Work may have been queued before this thread was ready to take it.
        self.let_in(&mut schedule);
        while !schedule.let_in[index] {
            schedule = slot
                .wake
                .wait(schedule)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        schedule.let_in[index] = false;
        schedule.coming -= 1;
        schedule.running += 1;
        slot.running.store(true, Ordering::Relaxed);
        slot.ran_since_sample.store(true, Ordering::Relaxed);
    }

    /// Runs `work` on thread `index` (which holds the GIL), unless its deadline passed
    /// while it was queued.
    fn run(&self, py: Python<'_>, index: usize, work: Work) {
        if let Some(ticket) = &work.ticket {
            if !ticket.start(index) {
                return;
            }
        }
        self.stats.busy.fetch_add(1, Ordering::Relaxed);
        // A bug in one request must not take a Python thread down with it; the
        // request's reply channel is dropped with the job, so its client gets a 503.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (work.job)(py))).is_err() {
            tracing::error!("a request panicked on a Python thread; the thread goes on");
        }
        self.stats.busy.fetch_sub(1, Ordering::Relaxed);
        if let Some(ticket) = &work.ticket {
            self.finish(index, ticket);
        }
    }

    /// Thread `index` returned from the call of `ticket`'s request: if it was stuck, it
    /// counts as running again.
    fn finish(&self, index: usize, ticket: &Ticket) {
        // The ticket's lock is held while the schedule changes, so that a deadline
        // passing now (in `expire`) sees either the call running or returned, and the
        // counts move once.
        let mut phase = ticket.lock();
        let Some(since) = phase.finish() else {
            return;
        };
        let mut schedule = self.schedule();
        schedule.running += 1;
        let slot = &self.slots[index];
        slot.running.store(true, Ordering::Relaxed);
        slot.ran_since_sample.store(true, Ordering::Relaxed);
        self.stats.stuck.fetch_sub(1, Ordering::Relaxed);
        drop(schedule);
        drop(phase);
        let stuck_s = since.elapsed().as_secs_f64();
        tracing::warn!(
            target: "hurricane::wsgi",
            thread = %format!("python-{index}"),
            stuck_s,
            "the Python call of a timed-out request returned {stuck_s:.1} s after its 504; its response was dropped and the thread serves again"
        );
    }

    /// The deadline of `ticket`'s request passed without a response.
    fn expire(&self, ticket: &Ticket) -> Expired {
        self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
        let mut phase = ticket.lock();
        match phase.expire(Instant::now()) {
            Expiry::Queued => Expired::Queued,
            Expiry::Finished => Expired::Finished,
            Expiry::Running { slot } => {
                self.set_stuck(slot);
                drop(phase);
                Expired::Running {
                    thread: slot,
                    ident: self.slots[slot].ident.get().copied(),
                }
            }
        }
    }

    /// Counts thread `index` out of the running threads, as if it had stopped, and lets
    /// another one in if work is waiting.
    fn set_stuck(&self, index: usize) {
        let mut schedule = self.schedule();
        schedule.running -= 1;
        let slot = &self.slots[index];
        slot.running.store(false, Ordering::Relaxed);
        // Its time up to now belongs to the current window.
        slot.ran_since_sample.store(true, Ordering::Relaxed);
        self.stats.stuck.fetch_add(1, Ordering::Relaxed);
        self.let_in(&mut schedule);
    }

    /// Lets threads in while requests are queued and more may run. Called with the lock
    /// held.
    fn let_in(&self, schedule: &mut Schedule) {
        while schedule.running + schedule.coming < schedule.allowed
            && schedule.queue.len() > schedule.coming
        {
            let Some(index) = schedule.idle.pop() else {
                return;
            };
            schedule.let_in[index] = true;
            schedule.coming += 1;
            self.slots[index].wake.notify_one();
        }
    }

    fn set_allowed(&self, schedule: &mut Schedule, allowed: usize) {
        if schedule.allowed != allowed {
            tracing::trace!(
                from = schedule.allowed,
                to = allowed,
                "python threads allowed"
            );
            schedule.allowed = allowed;
        }
        self.let_in(schedule);
    }

    /// The watcher thread's loop: feeds [`Admission`] what the queue and the clocks say.
    fn watch(&self, mut admission: Admission) {
        let mut last_usage = vec![Usage::default(); self.slots.len()];
        let mut window_start = Instant::now();
        loop {
            if self.is_idle() {
                self.sleep_while_idle(&mut last_usage);
                window_start = Instant::now();
                continue;
            }
            let window = admission.window();
            let can_grow = admission.can_grow();
            std::thread::park_timeout(self.nap(window_start, window, can_grow));
            let stalled = can_grow && self.stalled_for() >= STALL;
            let window_ended = window_start.elapsed() >= window;
            if !stalled && !window_ended {
                continue;
            }
            let usage = if window_ended {
                self.sample(&mut last_usage)
            } else {
                Vec::new()
            };
            let mut schedule = self.schedule();
            if stalled && !schedule.queue.is_empty() {
                admission.on_stall();
                // Count the wake-up as progress, so one stall lets in one thread.
                self.last_start_us.store(self.now_us(), Ordering::Relaxed);
            }
            if window_ended {
                let window = Window {
                    length: window_start.elapsed(),
                    queued: schedule.queue.len(),
                    running: schedule.running,
                    usage,
                };
                trace_window(&window);
                admission.on_window(&window);
                window_start = Instant::now();
            }
            self.set_allowed(&mut schedule, admission.allowed());
        }
    }

    /// Nothing queued and at most one thread running: nothing for the watcher to decide.
    fn is_idle(&self) -> bool {
        let schedule = self.schedule();
        schedule.queue.is_empty() && schedule.running <= 1
    }

    /// Parks the watcher until work is queued; then starts afresh.
    fn sleep_while_idle(&self, last_usage: &mut [Usage]) {
        self.watcher_asleep.store(true, Ordering::SeqCst);
        // Work queued between the idle check and this flag wakes us up below. SeqCst on
        // both sides (here and in `queue`): either this load sees the new work, or
        // `queue` sees the flag and unparks.
        if self.stats.queued.load(Ordering::SeqCst) == 0 {
            std::thread::park();
        }
        self.watcher_asleep.store(false, Ordering::SeqCst);
        // The clocks advanced while nobody watched, and no request had to start then:
        // the caller starts a fresh window, and stalls count from now.
        self.sample(last_usage);
        self.last_start_us.store(self.now_us(), Ordering::Relaxed);
    }

    /// How long no request has started.
    fn stalled_for(&self) -> Duration {
        let last_start = self.last_start_us.load(Ordering::Relaxed);
        Duration::from_micros(self.now_us().saturating_sub(last_start))
    }

    /// How long the watcher may sleep: until the window ends or, with requests queued,
    /// until the queue would count as stalled, whichever comes first. Waking only then
    /// (not on a fixed tick) keeps the watcher to a few hundred wake-ups a second under
    /// load (a fixed 1 ms tick was a thousand). The price: work queued while the watcher
    /// sleeps with nothing queued is first seen at the window's end, so a stall behind
    /// threads that have run long is noticed up to a window late. A pool that cannot
    /// grow (`can_grow` false) has no use for stalls.
    fn nap(&self, window_start: Instant, window: Duration, can_grow: bool) -> Duration {
        let to_window_end = window.saturating_sub(window_start.elapsed());
        if !can_grow || self.stats.queued.load(Ordering::Relaxed) == 0 {
            return to_window_end;
        }
        to_window_end.min(STALL.saturating_sub(self.stalled_for()))
    }

    /// How much each thread let in since the last sample ran or wanted to run since then.
    fn sample(&self, last_usage: &mut [Usage]) -> Vec<Usage> {
        let mut usage = Vec::new();
        for (slot, last) in self.slots.iter().zip(last_usage.iter_mut()) {
            let ran = slot.ran_since_sample.swap(false, Ordering::Relaxed);
            if !(ran || slot.running.load(Ordering::Relaxed)) {
                continue;
            }
            let Some(clock) = slot.clock.get() else {
                continue;
            };
            let now = clock.usage();
            usage.push(now.since(*last));
            *last = now;
        }
        usage
    }
}

/// The admission's inputs, for `hurricane_wsgi::pool=trace`.
fn trace_window(window: &Window) {
    tracing::trace!(
        gil_use = window.gil_use(),
        two_busiest_cpu = window.two_busiest_cpu(),
        blocked = window.blocked(),
        running = window.running,
        queued = window.queued,
        "python pool window"
    );
}

impl PythonPool {
    /// Starts `threads` Python threads (at least one), of which `concurrency` decides how
    /// many run at once.
    pub fn start(threads: usize, concurrency: Concurrency) -> std::io::Result<Self> {
        let size = threads.max(1);
        let admission = Admission::new(size, concurrency);
        let shared = Arc::new(Shared::new(size, admission.allowed()));
        if concurrency == Concurrency::Adaptive {
            let watcher = Arc::clone(&shared);
            let watcher = std::thread::Builder::new()
                .name("python-pool-watch".into())
                .spawn(move || watcher.watch(admission))?;
            let _ = shared.watcher.set(watcher.thread().clone());
        }
        for index in 0..size {
            let worker = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("python-{index}"))
                .spawn(move || run_worker(&worker, index))?;
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
        self.queue(Work { job, ticket: None });
    }

    /// Queues `job` like [`PythonPool::submit`], with a deadline: the returned ticket is
    /// what [`PythonPool::expire`] takes when the deadline passes.
    pub(crate) fn submit_with_deadline(&self, job: Job) -> Arc<Ticket> {
        let ticket = Arc::new(Ticket::default());
        self.queue(Work {
            job,
            ticket: Some(Arc::clone(&ticket)),
        });
        ticket
    }

    /// The deadline of the request of `ticket` passed before it answered: if it is still
    /// queued it will not run; if it runs, its thread is stuck until its call returns
    /// (see "Stuck threads" in the type's docs). Call it once per ticket, without the GIL.
    pub(crate) fn expire(&self, ticket: &Ticket) -> Expired {
        self.shared.expire(ticket)
    }

    fn queue(&self, work: Work) {
        let shared = &self.shared;
        shared.stats.queued.fetch_add(1, Ordering::SeqCst);
        let mut schedule = shared.schedule();
        schedule.queue.push_back(work);
        shared.let_in(&mut schedule);
        if shared.watcher_asleep.load(Ordering::SeqCst) {
            drop(schedule);
            if let Some(watcher) = shared.watcher.get() {
                watcher.unpark();
            }
        }
    }
}

/// What [`PythonPool::expire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The request was waiting for a thread: it will not run.
    Queued,
    /// The request runs on the pool thread `python-{thread}`, now stuck in it; `ident`
    /// is that thread's `threading.get_ident()` (`None` if it could not be read).
    Running { thread: usize, ident: Option<u64> },
    /// Its call returned just as the deadline passed, without a response.
    Finished,
}

fn run_worker(shared: &Shared, index: usize) {
    let slot = &shared.slots[index];
    if let Some(clock) = ThreadClock::of_current_thread() {
        let _ = slot.clock.set(clock);
    }
    Python::attach(|py| {
        match python_thread_ident(py) {
            Ok(ident) => {
                let _ = slot.ident.set(ident);
            }
            Err(error) => tracing::warn!(
                %error,
                "cannot read a Python thread's identifier: the stacks of its timed-out requests will not be logged"
            ),
        }
        loop {
            // Returns once this thread is let in and holds the GIL again.
            py.detach(|| shared.wait_to_run(index));
            while let Some(work) = shared.next_job(slot) {
                shared.run(py, index, work);
            }
        }
    });
}

/// `threading.get_ident()` of the calling thread.
fn python_thread_ident(py: Python<'_>) -> PyResult<u64> {
    py.import("threading")?
        .getattr("get_ident")?
        .call0()?
        .extract()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool's state with slot 0 running a request of `ticket`, `idle` threads waiting
    /// and `queued` requests behind it; no thread is started.
    fn busy_pool(size: usize, allowed: usize, queued: usize) -> (Shared, Arc<Ticket>) {
        let shared = Shared::new(size, allowed);
        let ticket = Arc::new(Ticket::default());
        assert!(ticket.start(0));
        {
            let mut schedule = shared.schedule();
            schedule.running = 1;
            schedule.idle = (1..size).collect();
            for _ in 0..queued {
                schedule.queue.push_back(Work {
                    job: Box::new(|_| {}),
                    ticket: None,
                });
            }
        }
        shared.slots[0].running.store(true, Ordering::Relaxed);
        (shared, ticket)
    }

    #[test]
    fn a_stuck_thread_makes_room_for_another() {
        // One thread allowed, as the adaptive pool starts: the stuck one no longer counts.
        let (shared, ticket) = busy_pool(3, 1, 2);
        assert_eq!(
            shared.expire(&ticket),
            Expired::Running {
                thread: 0,
                ident: None
            }
        );
        let schedule = shared.schedule();
        assert_eq!(schedule.running, 0);
        assert_eq!(schedule.coming, 1, "another thread is let in for the queue");
        assert!(schedule.let_in[2], "the most recently stopped one");
        assert!(!shared.slots[0].running.load(Ordering::Relaxed));
        assert_eq!((shared.stats.stuck(), shared.stats.timeouts()), (1, 1));
    }

    #[test]
    fn a_stuck_thread_counts_as_running_again_when_its_call_returns() {
        let (shared, ticket) = busy_pool(2, 2, 0);
        shared.expire(&ticket);
        assert_eq!(shared.schedule().running, 0);
        shared.finish(0, &ticket);
        assert_eq!(shared.schedule().running, 1);
        assert!(shared.slots[0].running.load(Ordering::Relaxed));
        assert_eq!((shared.stats.stuck(), shared.stats.timeouts()), (0, 1));
        // a call that returned in time changes nothing
        let (shared, ticket) = busy_pool(2, 2, 0);
        shared.finish(0, &ticket);
        assert_eq!(shared.schedule().running, 1);
        assert_eq!(shared.stats.stuck(), 0);
    }

    #[test]
    fn a_request_taken_by_a_running_thread_calls_off_the_thread_let_in_for_it() {
        // Slot 0 runs a request; one arrives and slot 2 (stopped last) is let in for it.
        let (shared, _ticket) = busy_pool(3, 3, 0);
        {
            let mut schedule = shared.schedule();
            schedule.queue.push_back(Work {
                job: Box::new(|_| {}),
                ticket: None,
            });
            shared.stats.queued.fetch_add(1, Ordering::Relaxed);
            shared.let_in(&mut schedule);
            assert_eq!(schedule.coming, 1);
            assert!(schedule.let_in[2]);
        }
        // Slot 0 finishes first and takes it, holding the GIL.
        assert!(shared.next_job(&shared.slots[0]).is_some());
        let schedule = shared.schedule();
        assert_eq!(schedule.coming, 0, "nobody is coming for an empty queue");
        assert!(
            !schedule.let_in[2],
            "slot 2 waits on instead of taking the GIL"
        );
        assert_eq!(schedule.idle, [1, 2], "and is the next one let in");
        assert_eq!(schedule.running, 1);
    }

    #[test]
    fn a_request_expired_in_the_queue_takes_no_thread() {
        let shared = Shared::new(1, 1);
        let ticket = Arc::new(Ticket::default());
        assert_eq!(shared.expire(&ticket), Expired::Queued);
        assert_eq!(shared.schedule().running, 0);
        assert_eq!((shared.stats.stuck(), shared.stats.timeouts()), (0, 1));
        assert!(!ticket.start(0));
    }
}
