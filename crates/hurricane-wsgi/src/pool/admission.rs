//! How many Python threads may run requests at once: the adaptive policy.
//!
//! The policy is pure (numbers in, a number out) so that it can be tested without Python
//! or threads; [`PythonPool`](super::PythonPool)'s watcher thread feeds it what it observes.
//!
//! # Signals
//! - **GIL use** over a [`WINDOW`] of 4 ms ([`CALM_WINDOW`] while nothing can grow): the
//!   CPU time of the threads let in to run, plus the run-queue delay of those that ran
//!   for a tenth of the window or more (the GIL's holders, preempted on a busy machine),
//!   divided by the window's length; or, if more, the CPU time plus run-queue delay of
//!   the busiest one (the clocks are `CLOCK_THREAD_CPUTIME_ID` and
//!   `/proc/thread-self/schedstat`). About 1 when the running requests compute (only
//!   the GIL's holder runs), well below 1 when they wait outside the GIL for the
//!   database, the network or `time.sleep`. Without the holders' delay, two threads
//!   that took turns on the GIL in a window, each preempted by another process for
//!   part of its turn, read as a GIL used two thirds of the time: with two processes
//!   on two cores, a CPU-bound load grew to every thread and never shrank back (p99 of
//!   /hello from 4 to 28 ms).
//! - **Busiest threads**: the share of the window the two busiest threads spent on a
//!   CPU. At [`COMPUTING_AT`] or more, threads compute for long stretches (CPython lets
//!   a computing thread keep the GIL for 5 ms, so a window of 4 ms sees at most two of
//!   them take turns; counting one alone, two that did read as threads that wait, and
//!   a pod's CPU-bound load never shrank back once stalls had let threads in): the
//!   requests compute, and the
//!   [`COMPUTING`] thresholds apply. Otherwise each thread runs briefly between waits, and
//!   part of that time (GIL hand-offs, system calls) is spent outside the GIL, in
//!   parallel with its holder; the summed CPU time overstates the GIL's use, and the
//!   higher [`WAITING`] thresholds apply.
//! - Both are smoothed over about three windows: one window holds a dozen requests or
//!   so, and its figures swing with their rhythm.
//! - **Blocked threads**: threads let in that used less than a tenth of the window.
//! - **Stall**: no request has started for [`STALL`] while requests are queued.
//!
//! # Rules
//! - **Grow** (requests wait): requests are queued and the GIL's use is below
//!   `grow_below`, and some running threads are blocked. Let in as many threads as would
//!   bring it to `target` if each used the GIL as the running ones do, but at most one
//!   more per blocked thread and half as many again as run: the number running grows by
//!   at most half per window, because one window's GIL use is a noisy estimate. With no
//!   thread blocked the queue is behind a thread that computes, and more threads would
//!   only take turns on the GIL.
//! - **Shrink** (requests compute): the GIL's use is `saturated_at` or more for a few
//!   windows in a row: allow a quarter fewer (at least one fewer). Past saturation more
//!   threads add nothing but waiting for the GIL, which, unlike the pool's queue, is not
//!   first come, first served, so the tail latency grows. But a busy GIL is ambiguous:
//!   the threads may be fighting over it (computing requests, where one thread does as
//!   much with no hand-offs), or just enough of them may wait on I/O to keep it busy
//!   (where fewer threads do less). So a shrink is a trial: when the GIL goes idle with
//!   requests queued within [`REGRET`] windows, the threads grow back and the next trial
//!   waits twice as long (up to [`MAX_SHRINK_AFTER`] windows, about a second); a shrink
//!   that holds makes the next one as quick as the first ([`MIN_SHRINK_AFTER`]). A thread
//!   above the limit finishes its request and then waits; no request is interrupted. One
//!   thread is always allowed.
//! - **Fairness**: a stall lets one more thread in, whatever the GIL does. A request that
//!   computes for long (or a C call holding the GIL) therefore holds up the queue behind
//!   it for about a stall plus CPython's switch interval (5 ms), not for its whole length.
//!   The queue itself is first come, first served.
//!
//! So a CPU-bound load runs on one thread with no GIL hand-offs, an I/O-bound load gets
//! as many threads as keep the GIL busy within a few windows (and loses a quarter of them
//! for a few windows now and then, at most about once a second once the load is steady,
//! while the policy checks that it still needs them), and a mixed load settles where the
//! GIL is busy but not fought over.

use std::time::Duration;

use super::clock::Usage;

/// How long the queue may go without a request starting before one more thread is let
/// in: CPython's default switch interval, the soonest a new thread gets the GIL from a
/// thread that computes.
pub const STALL: Duration = Duration::from_millis(5);

/// How often the threads' clocks are read. Longer than the kernel's scheduler tick at
/// 250 Hz, so that a preempted thread's run-queue delay is mostly counted in the window
/// it happened in.
pub const WINDOW: Duration = Duration::from_millis(4);

/// How often the threads' clocks are read while every thread of the pool may run and the
/// GIL is not saturated: no rule can let more threads in then, and the only one that can
/// act (shrink) needs saturated windows, after which the windows are [`WINDOW`]s again.
/// Reading some forty threads' clocks (two system calls each) every 4 ms cost a busy
/// process about 2% of a core; a calm pool needs a quarter of that.
pub const CALM_WINDOW: Duration = Duration::from_millis(16);

/// When the running requests compute: the GIL's use is the summed CPU time of threads
/// of which one holds the GIL for long stretches.
pub const COMPUTING: Thresholds = Thresholds {
    grow_below: 0.75,
    target: 0.87,
    saturated_at: 0.92,
};

/// When the running requests wait: each thread runs briefly between waits, and part of
/// that time (GIL hand-offs, system calls) is spent outside the GIL, in parallel with the
/// GIL's holder, so the summed CPU time overstates the GIL's use; measured on a 2-core
/// machine, it stayed between 0.9 and 1.0 from 23 to 64 threads while req/s went from
/// 2,200 to 4,000.
pub const WAITING: Thresholds = Thresholds {
    grow_below: 1.0,
    target: 1.15,
    saturated_at: 1.25,
};

/// The two busiest threads' (smoothed) share of the CPU from which the running requests
/// count as computing.
pub const COMPUTING_AT: f64 = 0.5;

/// GIL use thresholds of the rules, by what the running requests do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// GIL use below which queued requests get more threads.
    pub grow_below: f64,
    /// The GIL use growing aims at.
    pub target: f64,
    /// GIL use at or above which (for a few windows in a row) fewer threads are tried.
    pub saturated_at: f64,
}

/// Saturated windows before the first shrink, and after a shrink that held.
pub const MIN_SHRINK_AFTER: u32 = 2;

/// The longest wait, in saturated windows, between two shrinks that were undone.
pub const MAX_SHRINK_AFTER: u32 = 256;

/// Windows after a shrink within which growing again means the shrink was a mistake.
pub const REGRET: u32 = 12;

/// The weight of the newest window in the smoothed GIL use (an exponential moving
/// average over about three windows).
const SMOOTHING: f64 = 1.0 / 3.0;

/// A thread that used less than this share of a window counts as blocked.
const BLOCKED_BELOW: f64 = 0.1;

/// Whether the pool adapts how many threads run, or runs all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Concurrency {
    /// Run one thread while requests compute and more while they wait outside the GIL,
    /// up to the pool's size (see the module docs of `pool::admission`).
    #[default]
    Adaptive,
    /// Let every thread of the pool run at once, as a thread pool of a fixed size does
    /// (gunicorn's `--threads`, granian's `--blocking-threads`).
    Fixed,
}

/// What the watcher saw over one window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    pub length: Duration,
    /// Requests waiting for a thread at the end of the window.
    pub queued: usize,
    /// Threads let in to run at the end of the window.
    pub running: usize,
    /// CPU time and run-queue delay of each thread that was let in during the window.
    pub usage: Vec<Usage>,
}

impl Window {
    /// The share of the window the GIL was in use: the threads' CPU time plus the
    /// run-queue delay of the threads that ran for a good part of it (the GIL's holders,
    /// preempted; on a machine shared with other processes, two threads that took turns
    /// on the GIL in one window are each preempted part of it), or the demand of the
    /// busiest thread if that is more. The run-queue delay of the threads that ran
    /// briefly is not added: threads woken from I/O on a busy machine wait in the run
    /// queue together, for a CPU and then for the GIL, and their waits overlap.
    pub fn gil_use(&self) -> f64 {
        let floor = self.blocked_below();
        let cpu: Duration = self.usage.iter().map(|u| u.cpu).sum();
        let holders_waited: Duration = self
            .usage
            .iter()
            .filter(|u| u.cpu >= floor)
            .map(|u| u.waited)
            .sum();
        let busiest = self
            .usage
            .iter()
            .map(|u| u.demand())
            .max()
            .unwrap_or_default();
        self.share((cpu + holders_waited).max(busiest))
    }

    /// The share of the window the two busiest threads spent on a CPU.
    pub fn two_busiest_cpu(&self) -> f64 {
        let (mut first, mut second) = (Duration::ZERO, Duration::ZERO);
        for cpu in self.usage.iter().map(|u| u.cpu) {
            if cpu > first {
                (first, second) = (cpu, first);
            } else if cpu > second {
                second = cpu;
            }
        }
        self.share(first + second)
    }

    /// Threads that hardly ran in the window.
    pub fn blocked(&self) -> usize {
        let floor = self.blocked_below();
        self.usage.iter().filter(|u| u.demand() < floor).count()
    }

    /// The time a thread that hardly ran used at most: a tenth of the window.
    fn blocked_below(&self) -> Duration {
        self.length.mul_f64(BLOCKED_BELOW)
    }

    /// `time` as a share of the window.
    fn share(&self, time: Duration) -> f64 {
        time.as_secs_f64() / self.length.as_secs_f64().max(f64::EPSILON)
    }
}

/// The number of threads allowed to run, and the rules that move it.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    size: usize,
    allowed: usize,
    concurrency: Concurrency,
    /// Windows seen so far.
    windows: u64,
    /// Saturated windows in a row.
    saturated_windows: u32,
    /// Saturated windows in a row that trigger a shrink.
    shrink_after: u32,
    /// The window of the last shrink, while it may still be regretted.
    shrunk_at: Option<u64>,
    /// GIL use, smoothed over the last few windows.
    gil_use: Option<f64>,
    /// The two busiest threads' share of the CPU, smoothed over the last few windows.
    two_busiest_cpu: Option<f64>,
}

impl Admission {
    pub fn new(size: usize, concurrency: Concurrency) -> Self {
        let size = size.max(1);
        Self {
            size,
            allowed: match concurrency {
                Concurrency::Adaptive => 1,
                Concurrency::Fixed => size,
            },
            concurrency,
            windows: 0,
            saturated_windows: 0,
            shrink_after: MIN_SHRINK_AFTER,
            shrunk_at: None,
            gil_use: None,
            two_busiest_cpu: None,
        }
    }

    pub fn allowed(&self) -> usize {
        self.allowed
    }

    /// How long the next window lasts: [`CALM_WINDOW`] while every thread may run and
    /// the last window was not saturated, else [`WINDOW`].
    pub fn window(&self) -> Duration {
        if self.can_grow() || self.saturated_windows > 0 {
            WINDOW
        } else {
            CALM_WINDOW
        }
    }

    /// Whether more threads than now may ever be let in: if not, a stall changes
    /// nothing.
    pub fn can_grow(&self) -> bool {
        self.allowed < self.size
    }

    /// Requests are queued and none started for [`STALL`].
    pub fn on_stall(&mut self) {
        if self.concurrency == Concurrency::Adaptive {
            self.allowed = (self.allowed + 1).min(self.size);
        }
    }

    /// A window ended; see the module docs for the rules.
    pub fn on_window(&mut self, window: &Window) {
        if self.concurrency == Concurrency::Fixed {
            return;
        }
        self.windows += 1;
        if let Some(shrunk_at) = self.shrunk_at {
            if self.windows - shrunk_at > u64::from(REGRET) {
                // The shrink held: the threads were not needed.
                self.shrunk_at = None;
                self.shrink_after = MIN_SHRINK_AFTER;
            }
        }
        // One window is a dozen requests or so: its GIL use swings with the requests'
        // own rhythm (a burst of them back from a 10 ms sleep), so smooth it.
        let gil_use = smooth(&mut self.gil_use, window.gil_use());
        let two_busiest_cpu = smooth(&mut self.two_busiest_cpu, window.two_busiest_cpu());
        // Threads computing for long stretches mean requests compute; otherwise
        // the CPU time is spread thin over threads that each run briefly between waits,
        // and part of it (GIL hand-offs, system calls) runs outside the GIL, in
        // parallel: the summed CPU time overstates the GIL's use.
        let thresholds = if two_busiest_cpu >= COMPUTING_AT {
            COMPUTING
        } else {
            WAITING
        };
        if gil_use >= thresholds.saturated_at {
            self.saturated_windows += 1;
            if self.saturated_windows >= self.shrink_after && self.allowed > 1 {
                self.allowed = (self.allowed * 3 / 4).clamp(1, self.allowed - 1);
                self.saturated_windows = 0;
                self.shrunk_at = Some(self.windows);
            }
            return;
        }
        self.saturated_windows = 0;
        if window.queued > 0 && gil_use < thresholds.grow_below {
            // As many as would bring the GIL's use to the target if each thread used it
            // as much as now, but at most one more per blocked thread.
            let to_target = (window.running as f64 * thresholds.target / gil_use.max(0.01)).ceil();
            // Only blocked threads show that more would help: a queue behind a thread
            // that computes (with clients too slow to keep the GIL busy) needs none.
            let step = window.blocked().min(window.running.div_ceil(2));
            let wanted = (window.running + step).min(to_target as usize);
            self.allowed = self.allowed.max(wanted).min(self.size);
            if self.shrunk_at.take().is_some() {
                self.shrink_after = (self.shrink_after * 2).min(MAX_SHRINK_AFTER);
            }
        }
    }
}

/// Updates an exponential moving average with `value`; returns the new average.
fn smooth(average: &mut Option<f64>, value: f64) -> f64 {
    let smoothed = match *average {
        Some(previous) => previous + SMOOTHING * (value - previous),
        None => value,
    };
    *average = Some(smoothed);
    smoothed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    /// A window in which each running thread ran for the given milliseconds (of 4).
    fn window(queued: usize, cpu_ms: &[f64]) -> Window {
        Window {
            length: WINDOW,
            queued,
            running: cpu_ms.len(),
            usage: cpu_ms
                .iter()
                .map(|&d| Usage {
                    cpu: ms(d),
                    waited: Duration::ZERO,
                })
                .collect(),
        }
    }

    /// `threads` threads waiting on I/O with requests queued: each used 0.05 ms of the
    /// GIL (32 of them use 40% of it).
    fn io_bound(threads: usize) -> Window {
        window(60, &vec![0.05; threads])
    }

    /// `threads` threads fighting over the GIL: in use all the time, by one of them
    /// for most of the window (CPython switches every 5 ms).
    fn cpu_bound(threads: usize) -> Window {
        let others = threads.saturating_sub(1).max(1) as f64;
        let mut cpu = vec![1.0 / others; threads];
        cpu[0] = 3.0;
        window(20, &cpu)
    }

    /// Feeds windows made by `make` (from the threads allowed) until `done` or 1000
    /// windows; returns how many it took.
    fn windows_until(
        admission: &mut Admission,
        make: impl Fn(usize) -> Window,
        done: impl Fn(&Admission) -> bool,
    ) -> u32 {
        let mut windows = 0;
        while !done(admission) {
            admission.on_window(&make(admission.allowed()));
            windows += 1;
            assert!(windows < 1000, "stuck at {} threads", admission.allowed());
        }
        windows
    }

    #[test]
    fn starts_with_one_thread_or_all_when_fixed() {
        assert_eq!(Admission::new(32, Concurrency::Adaptive).allowed(), 1);
        assert_eq!(Admission::new(32, Concurrency::Fixed).allowed(), 32);
        assert_eq!(Admission::new(0, Concurrency::Fixed).allowed(), 1);
    }

    #[test]
    fn a_computing_thread_stays_alone() {
        let mut admission = Admission::new(64, Concurrency::Adaptive);
        for _ in 0..100 {
            // busy for the whole window: part on the CPU, part preempted
            admission.on_window(&Window {
                length: WINDOW,
                queued: 15,
                running: 1,
                usage: vec![Usage {
                    cpu: ms(2.5),
                    waited: ms(1.5),
                }],
            });
        }
        assert_eq!(admission.allowed(), 1);
    }

    #[test]
    fn threads_waiting_on_io_grow_by_half_per_window_until_the_pool_is_full() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        let mut seen = vec![admission.allowed()];
        while admission.allowed() < 32 {
            admission.on_window(&io_bound(admission.allowed()));
            seen.push(admission.allowed());
            assert!(seen.len() < 20, "did not fill the pool: {seen:?}");
        }
        assert_eq!(seen, [1, 2, 3, 5, 8, 12, 18, 27, 32]);
    }

    #[test]
    fn growth_aims_at_the_target_gil_use() {
        let mut admission = Admission::new(64, Concurrency::Adaptive);
        for _ in 0..9 {
            admission.on_stall();
        }
        // ten threads waiting on I/O use 90% of a CPU: thirteen would use 115%
        // (adding half as many again, fifteen, would overshoot)
        admission.on_window(&window(30, &[0.36; 10]));
        assert_eq!(admission.allowed(), 13);
        // while one thread computing for long stretches at 80% of the GIL holds
        let mut computing = Admission::new(64, Concurrency::Adaptive);
        for _ in 0..9 {
            computing.on_stall();
        }
        for _ in 0..5 {
            computing.on_window(&window(
                30,
                &[2.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            ));
        }
        assert_eq!(computing.allowed(), 10);
    }

    #[test]
    fn a_computing_thread_is_not_joined_while_the_gil_has_idle_time() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        for _ in 0..50 {
            // slow clients: requests queue in bursts, the one thread computes 40% of
            // the time and never blocks
            admission.on_window(&window(3, &[1.6]));
        }
        assert_eq!(admission.allowed(), 1);
    }

    #[test]
    fn no_growth_without_a_queue() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        admission.on_window(&window(0, &[0.0]));
        assert_eq!(admission.allowed(), 1);
    }

    #[test]
    fn a_busy_but_unsaturated_gil_keeps_the_threads() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        for _ in 0..2 {
            admission.on_stall();
        }
        // three computing threads, GIL in use 80% of the time: neither grow nor shrink
        for _ in 0..50 {
            admission.on_window(&window(10, &[2.4, 0.4, 0.4]));
        }
        assert_eq!(admission.allowed(), 3);
    }

    #[test]
    fn a_saturated_gil_brings_the_threads_back_to_one() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        // the load turns CPU-bound: 32 threads fight over the GIL
        admission.on_window(&cpu_bound(32));
        assert_eq!(admission.allowed(), 32, "one window is not enough");
        let windows = windows_until(&mut admission, cpu_bound, |a| a.allowed() == 1);
        // nine cuts of a quarter, each after two saturated windows, after the smoothed
        // GIL use climbed past the threshold
        assert!((18..=24).contains(&windows), "took {windows} windows");
    }

    #[test]
    fn an_undone_shrink_makes_the_next_one_wait_longer() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        let mut waits = Vec::new();
        for _ in 0..10 {
            let wait = windows_until(&mut admission, |_| cpu_bound(32), |a| a.allowed() < 32);
            waits.push(wait);
            assert_eq!(admission.allowed(), 24);
            // 24 threads leave the GIL mostly idle with requests queued: they were needed
            windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        }
        // (the first trial also waits for the smoothed figures to move)
        assert!(
            waits[1..].windows(2).all(|w| w[0] <= w[1]),
            "waits {waits:?}"
        );
        assert!(waits[9] >= MAX_SHRINK_AFTER, "waits {waits:?}");
    }

    #[test]
    fn a_shrink_that_holds_makes_the_next_one_quick() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        for _ in 0..3 {
            windows_until(&mut admission, |_| cpu_bound(32), |a| a.allowed() < 32);
            windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        }
        let slow = windows_until(&mut admission, |_| cpu_bound(32), |a| a.allowed() < 32);
        // the GIL stays busy (85%) with 24 computing threads past the regret horizon:
        // the shrink held
        let mut busy = vec![0.8 / 23.0; 24];
        busy[0] = 2.6;
        for _ in 0..=REGRET {
            admission.on_window(&window(30, &busy));
        }
        assert_eq!(admission.allowed(), 24);
        let quick = windows_until(&mut admission, cpu_bound, |a| a.allowed() < 24);
        assert!(
            quick < slow,
            "{quick} windows after a shrink that held, {slow} before"
        );
        assert!(quick <= 6, "{quick} windows");
    }

    #[test]
    fn a_full_calm_pool_reads_the_clocks_less_often_until_the_gil_saturates() {
        let mut admission = Admission::new(32, Concurrency::Adaptive);
        assert_eq!(admission.window(), WINDOW, "while the pool may grow");
        windows_until(&mut admission, io_bound, |a| a.allowed() == 32);
        assert!(!admission.can_grow());
        assert_eq!(admission.window(), CALM_WINDOW);
        // from the first saturated window on, the windows are short again, so that the
        // shrink comes one short window later, not one long one
        windows_until(&mut admission, cpu_bound, |a| a.window() == WINDOW);
        assert_eq!(admission.allowed(), 32);
        let short = windows_until(&mut admission, cpu_bound, |a| a.allowed() < 32);
        assert_eq!(short, MIN_SHRINK_AFTER - 1);
        assert!(admission.can_grow());
        assert_eq!(admission.window(), WINDOW);
    }

    #[test]
    fn threads_taking_turns_on_a_shared_machine_count_as_computing_and_shrink_back() {
        // Stalls let every thread in (the GIL's holder was preempted by another process
        // past the stall limit); now two threads take turns on the GIL in each window,
        // each preempted for part of its turn, and the rest wait for it.
        let mut admission = Admission::new(48, Concurrency::Adaptive);
        for _ in 0..47 {
            admission.on_stall();
        }
        let turns = |running: usize| {
            let mut usage = vec![Usage::default(); running];
            usage[0] = Usage {
                cpu: ms(1.3),
                waited: ms(0.9),
            };
            if let Some(second) = usage.get_mut(1) {
                *second = Usage {
                    cpu: ms(1.1),
                    waited: ms(0.7),
                };
            }
            Window {
                length: WINDOW,
                queued: 0,
                running,
                usage,
            }
        };
        let windows = windows_until(&mut admission, turns, |a| a.allowed() == 1);
        assert!(windows < 100, "{windows} windows");
    }

    #[test]
    fn stalls_add_one_thread_each_up_to_the_size() {
        let mut admission = Admission::new(3, Concurrency::Adaptive);
        for _ in 0..5 {
            admission.on_stall();
        }
        assert_eq!(admission.allowed(), 3);
    }

    #[test]
    fn fixed_concurrency_never_moves() {
        let mut admission = Admission::new(4, Concurrency::Fixed);
        for _ in 0..10 {
            admission.on_window(&cpu_bound(4));
        }
        admission.on_stall();
        assert_eq!(admission.allowed(), 4);
    }

    #[test]
    fn gil_use_counts_cpu_time_or_the_busiest_threads_demand() {
        let w = window(1, &[2.0, 0.2, 0.0]);
        assert!((w.gil_use() - 2.2 / 4.0).abs() < 1e-9);
        assert_eq!(w.blocked(), 2);
        // one thread on the CPU 2 ms and preempted 1.5 ms: the GIL was held 3.5 ms by
        // it, and 0.2 ms by the others; their run-queue waits overlap and are not added
        let preempted = Window {
            length: WINDOW,
            queued: 1,
            running: 3,
            usage: vec![
                Usage {
                    cpu: ms(2.0),
                    waited: ms(1.5),
                },
                Usage {
                    cpu: ms(0.1),
                    waited: ms(2.0),
                },
                Usage {
                    cpu: ms(0.1),
                    waited: ms(2.0),
                },
            ],
        };
        assert!((preempted.gil_use() - 3.7 / 4.0).abs() < 1e-9);
        // two threads took turns on the GIL, each preempted for part of its turn (by
        // another process): it was held all the window, though neither's demand says so
        let turns = Window {
            length: WINDOW,
            queued: 5,
            running: 2,
            usage: vec![
                Usage {
                    cpu: ms(1.2),
                    waited: ms(0.8),
                },
                Usage {
                    cpu: ms(1.2),
                    waited: ms(0.8),
                },
            ],
        };
        assert!((turns.gil_use() - 1.0).abs() < 1e-9);
    }
}
