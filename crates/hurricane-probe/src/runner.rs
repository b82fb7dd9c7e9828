//! Running the application's checks off the request path, with a deadline.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::{CheckResult, HealthChecks, Probe};

/// How long a finished run of a probe's checks answers later probes of the same kind.
/// Together with concurrent probes sharing one run, this makes a probe storm cost one
/// run of the checks per half second, and a flipped check is seen within half a second.
pub const CHECK_RESULTS_REUSED_FOR: Duration = Duration::from_millis(500);

/// Runs [`HealthChecks`] on one dedicated thread ("hurricane-checks").
///
/// A probe asks for results: fresh results are reused, a
/// run already under way is joined, and otherwise a new run is queued to the thread. The
/// probe waits at most its deadline. When the checks cannot finish in time (the GIL is
/// held by a runaway request, a database does not answer), the probe fails instead of
/// hanging, and the run goes on: its result answers the probes that follow once it ends.
#[derive(Debug, Clone)]
pub struct CheckRunner {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    runs: Mutex<mpsc::Sender<Probe>>,
    liveness: Slot,
    readiness: Slot,
}

/// The latest results of one probe kind and whether a run is under way.
#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
    /// Bumped each time a run finishes.
    finished: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct SlotState {
    latest: Option<(Instant, Arc<[CheckResult]>)>,
    running: bool,
}

/// The checks did not finish before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl Slot {
    fn new() -> Self {
        Self {
            state: Mutex::default(),
            finished: watch::Sender::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        // Only plain assignments happen under the lock: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self) -> Option<Arc<[CheckResult]>> {
        self.state()
            .latest
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CHECK_RESULTS_REUSED_FOR)
            .map(|(_, results)| Arc::clone(results))
    }
}

impl CheckRunner {
    /// Starts the checker thread.
    pub fn start(checks: Arc<dyn HealthChecks>) -> std::io::Result<Self> {
        let (runs, queued) = mpsc::channel::<Probe>();
        let shared = Arc::new(Shared {
            runs: Mutex::new(runs),
            liveness: Slot::new(),
            readiness: Slot::new(),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hurricane-checks".into())
            .spawn(move || {
                let runs = Arc::clone(&checks);
                checks.around_thread(&mut move || {
                    while let Ok(probe) = queued.recv() {
                        let results = run_guarded(&*runs, probe);
                        worker.finish(probe, results);
                    }
                });
            })?;
        Ok(Self { shared })
    }

    /// The results of `probe`'s checks, waiting at most `deadline` for them.
    pub(crate) async fn results(
        &self,
        probe: Probe,
        deadline: Duration,
    ) -> Result<Arc<[CheckResult]>, TimedOut> {
        let slot = self.shared.slot(probe);
        // Subscribe before looking, so that a run finishing in between is not missed.
        let mut finished = slot.finished.subscribe();
        {
            let mut state = slot.state();
            if let Some((at, results)) = &state.latest {
                if at.elapsed() < CHECK_RESULTS_REUSED_FOR {
                    return Ok(Arc::clone(results));
                }
            }
            if !state.running {
                state.running = true;
                let sent = self
                    .shared
                    .runs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .send(probe);
                if sent.is_err() {
                    // The checker thread is gone (it can only end by a bug): never pass.
                    state.running = false;
                    return Err(TimedOut);
                }
            }
        }
        match tokio::time::timeout(deadline, finished.changed()).await {
            Ok(Ok(())) => slot.fresh().ok_or(TimedOut),
            _ => Err(TimedOut),
        }
    }
}

impl Shared {
    fn slot(&self, probe: Probe) -> &Slot {
        match probe {
            Probe::Readiness => &self.readiness,
            Probe::Liveness | Probe::Startup => &self.liveness,
        }
    }

    fn finish(&self, probe: Probe, results: Vec<CheckResult>) {
        let slot = self.slot(probe);
        {
            let mut state = slot.state();
            state.latest = Some((Instant::now(), results.into()));
            state.running = false;
        }
        slot.finished.send_modify(|generation| *generation += 1);
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
