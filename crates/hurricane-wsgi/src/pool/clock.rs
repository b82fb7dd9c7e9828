//! How much a Python thread ran, or wanted to run, read from outside the thread.
//!
//! The admission control ([`super::admission`]) needs to know whether the GIL is in use.
//! A thread holding the GIL is either on a CPU or preempted and waiting in the run
//! queue; a thread waiting for the GIL, or outside it on a socket or `time.sleep`, is
//! asleep and neither. So "CPU time + run-queue delay" of the busy threads, summed over
//! a window, is the time the GIL was in use in it, even on a machine so loaded that the
//! GIL's holder is often preempted (counting CPU time alone would then read a busy GIL
//! as an idle one).
//!
//! - CPU time: the thread's `CLOCK_THREAD_CPUTIME_ID` clock (`pthread_getcpuclockid`),
//!   exact to the nanosecond when read.
//! - Run-queue delay: the second field of `/proc/thread-self/schedstat` (Linux with
//!   `CONFIG_SCHED_INFO`, which every major distribution enables). The kernel adds a wait
//!   to it when the thread gets back on a CPU, so it lags by at most one preemption. Where
//!   the file cannot be opened, only CPU time is counted.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// A thread's time on a CPU and in the run queue (runnable, but another thread ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub cpu: Duration,
    pub waited: Duration,
}

impl Usage {
    /// What was used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Usage) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            waited: self.waited.saturating_sub(earlier.waited),
        }
    }

    /// Running or runnable: the time the thread wanted a CPU.
    pub(crate) fn demand(self) -> Duration {
        self.cpu + self.waited
    }
}

/// The clocks of one thread, opened on that thread and readable from any other.
#[derive(Debug)]
pub(crate) struct ThreadClock {
    cpu: libc::clockid_t,
    /// `/proc/thread-self/schedstat` as opened by the thread: the open file stays bound
    /// to that thread, whoever reads it.
    schedstat: Option<File>,
}

impl ThreadClock {
    /// The calling thread's clocks, or `None` where the platform has no per-thread
    /// CPU clock.
    pub(crate) fn of_current_thread() -> Option<Self> {
        let mut cpu: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always a valid thread handle for the caller, and
        // `cpu` is a valid place for the result.
        let status = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut cpu) };
        if status != 0 {
            return None;
        }
        Some(Self {
            cpu,
            schedstat: File::open("/proc/thread-self/schedstat").ok(),
        })
    }

    /// How long the thread ran, and waited to run, since it started. Only valid while
    /// the thread lives (pool threads live as long as the process).
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            cpu: self.cpu_time(),
            waited: self.run_queue_delay(),
        }
    }

    fn cpu_time(&self) -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `self.cpu` came from `pthread_getcpuclockid` for a thread that outlives
        // this clock, and `now` is a valid place for the result.
        if unsafe { libc::clock_gettime(self.cpu, &mut now) } != 0 {
            return Duration::ZERO;
        }
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }

    fn run_queue_delay(&self) -> Duration {
        let Some(file) = &self.schedstat else {
            return Duration::ZERO;
        };
        // "<cpu ns> <run-queue delay ns> <timeslices>\n"
        let mut buf = [0u8; 96];
        let Ok(len) = file.read_at(&mut buf, 0) else {
            return Duration::ZERO;
        };
        parse_run_queue_delay(&buf[..len]).unwrap_or(Duration::ZERO)
    }
}

fn parse_run_queue_delay(schedstat: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(schedstat).ok()?;
    let nanos = text.split_ascii_whitespace().nth(1)?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_queue_delay_is_the_second_field() {
        assert_eq!(
            parse_run_queue_delay(b"669875 102862 3\n"),
            Some(Duration::from_nanos(102_862))
        );
        assert_eq!(parse_run_queue_delay(b"669875\n"), None);
        assert_eq!(parse_run_queue_delay(b""), None);
    }

    /// The demand, read from this thread, of a thread doing `work` (until told to stop)
    /// over 50 ms.
    fn demand_over_50_ms(work: fn(std::sync::mpsc::Receiver<()>)) -> Duration {
        let (clock_tx, clock_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            clock_tx
                .send(ThreadClock::of_current_thread())
                .expect("the test waits for the clock");
            work(stop_rx);
        });
        let clock = clock_rx
            .recv()
            .expect("the worker sends its clock")
            .expect("Linux has per-thread CPU clocks");
        let before = clock.usage();
        std::thread::sleep(Duration::from_millis(50));
        let demand = clock.usage().since(before).demand();
        stop_tx.send(()).expect("the worker is running");
        worker.join().expect("the worker ends");
        demand
    }

    #[test]
    fn a_spinning_thread_accumulates_demand_seen_from_another_thread() {
        let spun = demand_over_50_ms(|stop| {
            while stop.try_recv().is_err() {
                std::hint::spin_loop();
            }
        });
        // It ran or waited to run for (nearly) all of the 50 ms, even on a busy machine.
        assert!(
            spun >= Duration::from_millis(35),
            "demand {spun:?} over 50 ms"
        );
    }

    #[test]
    fn a_sleeping_thread_has_no_demand() {
        let slept = demand_over_50_ms(|stop| {
            let _ = stop.recv();
        });
        assert!(
            slept < Duration::from_millis(5),
            "demand {slept:?} while asleep"
        );
    }
}
