//! Running the application's checks off the request path, with a deadline.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::{CheckResult, HealthChecks, Probe};

/// While a probe kind is being asked for, its checks run again in the background this
/// often, so that a probe answers from a recent result at once instead of waiting for
/// the GIL (which, under CPU-bound load, takes a check run tens to hundreds of ms).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The oldest result a probe answers with. A change in the application's health shows
/// in the probes within this long; concurrent probes and probe storms cost one run of
/// the checks per [`CHECK_INTERVAL`].
pub const CHECK_RESULTS_REUSED_FOR: Duration = Duration::from_secs(3);

/// Background runs stop this long after the last probe of a kind (a probe port nobody
/// asks costs nothing).
const KEEP_FRESH_FOR: Duration = Duration::from_secs(60);

/// Runs [`HealthChecks`] on one dedicated thread ("hurricane-checks").
///
/// A probe answers from the latest result when it is at most
/// [`CHECK_RESULTS_REUSED_FOR`] old; while probes keep coming, the thread refreshes it
/// every [`CHECK_INTERVAL`]. With no recent result (the first probe, or after a long
/// quiet spell) the probe asks for a run and waits for it, at most its deadline.
///
/// A run that has gone on for longer than the deadline fails both probes at once: the
/// GIL is held by a runaway request, or a database does not answer. The run goes on, and its
/// result answers the probes that follow once it ends.
#[derive(Debug, Clone)]
pub struct CheckRunner {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Wakes the checker thread for a probe that has no recent result.
    wake: Mutex<mpsc::Sender<()>>,
    /// When the run under way (of either probe) started. Both probes' checks need the
    /// GIL, so a run stuck past the deadline fails both.
    busy_since: Mutex<Option<Instant>>,
    liveness: Slot,
    readiness: Slot,
}

/// The latest results of one probe kind and whether a run is under way.
#[derive(Debug)]
struct Slot {
    probe: Probe,
    state: Mutex<SlotState>,
    /// Bumped each time a run finishes.
    finished: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct SlotState {
    latest: Option<(Instant, Arc<[CheckResult]>)>,
    /// When a probe last asked.
    asked: Option<Instant>,
}

/// The checks did not finish before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl Slot {
    fn new(probe: Probe) -> Self {
        Self {
            probe,
            state: Mutex::default(),
            finished: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        // Only plain assignments happen under the lock: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn recent(state: &SlotState) -> Option<Arc<[CheckResult]>> {
        state
            .latest
            .as_ref()
            .filter(|(at, _)| at.elapsed() <= CHECK_RESULTS_REUSED_FOR)
            .map(|(_, results)| Arc::clone(results))
    }

    /// Whether the thread should run this slot's checks now.
    fn due(&self) -> bool {
        let state = self.state();
        let asked_lately = state.asked.is_some_and(|at| at.elapsed() < KEEP_FRESH_FOR);
        let stale = state
            .latest
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= CHECK_INTERVAL);
        asked_lately && stale
    }

    fn finish(&self, results: Vec<CheckResult>) {
        {
            let mut state = self.state();
            state.latest = Some((Instant::now(), results.into()));
        }
        self.finished.send_modify(|generation| *generation += 1);
    }
}

impl CheckRunner {
    /// Starts the checker thread.
    pub fn start(checks: Arc<dyn HealthChecks>) -> std::io::Result<Self> {
        let (wake, woken) = mpsc::channel::<()>();
        let shared = Arc::new(Shared {
            wake: Mutex::new(wake),
            busy_since: Mutex::new(None),
            liveness: Slot::new(Probe::Liveness),
            readiness: Slot::new(Probe::Readiness),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hurricane-checks".into())
            .spawn(move || {
                let runs = Arc::clone(&checks);
                checks.around_thread(&mut move || loop {
                    for slot in [&worker.liveness, &worker.readiness] {
                        if slot.due() {
                            worker.set_busy(true);
                            let results = run_guarded(&*runs, slot.probe);
                            worker.set_busy(false);
                            slot.finish(results);
                        }
                    }
                    // Sleep until the next refresh, or until a probe has no result.
                    match woken.recv_timeout(CHECK_INTERVAL / 4) {
                        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                });
            })?;
        Ok(Self { shared })
    }

    /// The results of `probe`'s checks: recent ones at once, else a new run's, waiting
    /// at most `deadline`.
    pub(crate) async fn results(
        &self,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Arc<[CheckResult]>, TimedOut> {
        let slot = self.shared.slot(probe);
        // Subscribe before looking, so that a run finishing in between is not missed.
        let mut finished = slot.finished.subscribe();
        let running_for = self.shared.busy_for();
        if running_for.is_some_and(|running| running > deadline) {
            return Err(TimedOut);
        }
        {
            let mut state = slot.state();
            state.asked = Some(Instant::now());
            if let Some(results) = Slot::recent(&state) {
                return Ok(results);
            }
        }
        let wait = deadline.saturating_sub(running_for.unwrap_or_default());
        let woke = self
            .shared
            .wake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(());
        if woke.is_err() {
            // The checker thread is gone (it can only end by a bug): never pass.
            return Err(TimedOut);
        }
        match tokio::time::timeout(wait, finished.changed()).await {
            Ok(Ok(())) => Slot::recent(&slot.state()).ok_or(TimedOut),
            _ => Err(TimedOut),
        }
    }
}

impl Shared {
    fn set_busy(&self, busy: bool) {
        *self.busy_since.lock().unwrap_or_else(|p| p.into_inner()) = busy.then(Instant::now);
    }

    /// How long the run under way has been going.
    fn busy_for(&self) -> Option<Duration> {
        self.busy_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|since| since.elapsed())
    }

    fn slot(&self, probe: Probe) -> &Slot {
        match probe {
            Probe::Readiness => &self.readiness,
            Probe::Liveness | Probe::Startup => &self.liveness,
        }
    }
}

/// A panic in the checks is a failed check, not a dead checker thread.
fn run_guarded(checks: &dyn HealthChecks, probe: Probe) -> Vec<CheckResult> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checks.run(probe))).unwrap_or_else(
        |_| {
            tracing::error!(probe = probe.name(), "the health checks panicked");
            vec![CheckResult::failed(
                "checks",
                "check error",
                "the health checks panicked (a bug in hurricane)",
            )]
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Checks that take `delay` and count their runs.
    struct SlowChecks {
        delay: Duration,
        runs: AtomicUsize,
    }

    impl HealthChecks for SlowChecks {
        fn run(&self, _probe: Probe) -> Vec<CheckResult> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            vec![CheckResult::passed("slow")]
        }
    }

    fn runner(delay: Duration) -> (CheckRunner, Arc<SlowChecks>) {
        let checks = Arc::new(SlowChecks {
            delay,
            runs: AtomicUsize::new(0),
        });
        let runner = CheckRunner::start(Arc::clone(&checks) as Arc<dyn HealthChecks>)
            .expect("the checker thread starts");
        (runner, checks)
    }

    #[tokio::test]
    async fn concurrent_probes_share_one_run_and_reuse_its_result() {
        let (runner, checks) = runner(Duration::from_millis(50));
        let deadline = Duration::from_secs(5);
        let (a, b) = tokio::join!(
            runner.results(Probe::Liveness, deadline),
            runner.results(Probe::Liveness, deadline)
        );
        assert!(a.is_ok() && b.is_ok());
        assert!(runner.results(Probe::Liveness, deadline).await.is_ok());
        assert_eq!(checks.runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_recent_result_answers_at_once_while_a_refresh_runs() {
        let (runner, checks) = runner(Duration::from_millis(300));
        let deadline = Duration::from_secs(5);
        assert!(runner.results(Probe::Liveness, deadline).await.is_ok());
        // Past the refresh interval the thread runs the checks again in the background;
        // probes meanwhile answer from the previous result without waiting for it.
        tokio::time::sleep(CHECK_INTERVAL + Duration::from_millis(400)).await;
        let started = Instant::now();
        assert!(runner
            .results(Probe::Liveness, Duration::from_millis(50))
            .await
            .is_ok());
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(checks.runs.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_run_past_the_deadline_fails_the_probe_at_once() {
        let (runner, _checks) = runner(Duration::from_millis(600));
        let first = runner
            .results(Probe::Readiness, Duration::from_millis(100))
            .await;
        assert_eq!(first, Err(TimedOut));
        let started = Instant::now();
        let second = runner
            .results(Probe::Readiness, Duration::from_millis(100))
            .await;
        assert_eq!(second, Err(TimedOut));
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_slow_run_times_out_and_answers_later_probes_when_done() {
        let (runner, checks) = runner(Duration::from_millis(300));
        let early = runner
            .results(Probe::Readiness, Duration::from_millis(20))
            .await;
        assert_eq!(early, Err(TimedOut));
        let later = runner
            .results(Probe::Readiness, Duration::from_secs(5))
            .await
            .expect("the run under way finishes");
        assert_eq!(later[0].name, "slow");
        assert_eq!(checks.runs.load(Ordering::SeqCst), 1);
    }
}
