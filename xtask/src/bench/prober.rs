//! A probe client that behaves like the kubelet's HTTP probe: every request
//! on a fresh TCP connection (the kubelet disables keep-alive and sends
//! `Connection: close`), one at a time at a fixed rate, each with a deadline
//! for the whole exchange (the kubelet's `timeoutSeconds`, 1 s by default).
//! Each probe is timed from `connect()` to the last byte of its response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{self, HttpError};
use super::percentile;

/// One probe: `GET path` on a new connection to `addr`, as the kubelet sends it
/// (Go's net/http with keep-alive disabled); the status code.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, HttpError> {
    let headers = "User-Agent: kube-probe/1.31\r\nAccept: */*\r\n";
    http::get(addr, path, headers, timeout).map(|r| r.status)
}

/// One probe's result and how long it took.
#[derive(Debug)]
pub struct Sample {
    pub elapsed: Duration,
    pub outcome: Result<u16, HttpError>,
}

/// Probes `path` on `addr` every `interval` until `stop` is set (the next
/// probe starts on the next tick, or at once when one took longer than the
/// interval, as the kubelet's ticker does), each with `timeout`.
pub fn probe_until(
    stop: &AtomicBool,
    addr: SocketAddr,
    path: &str,
    interval: Duration,
    timeout: Duration,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let start = Instant::now();
        let outcome = probe(addr, path, timeout);
        samples.push(Sample {
            elapsed: start.elapsed(),
            outcome,
        });
        next = (next + interval).max(Instant::now());
    }
    samples
}

/// Latency and answers of a series of probes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub probes: usize,
    /// Over the probes that got an answer or timed out (a timed-out probe
    /// counts with the time it was given); `None` when there are none.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, usize>,
    pub timeouts: usize,
    /// Probes that failed without timing out (refused, reset, garbage).
    pub errors: usize,
    /// The first such error, to show.
    pub first_error: Option<String>,
}

impl Stats {
    pub fn of(samples: &[Sample]) -> Stats {
        let mut latencies = Vec::new();
        let mut statuses = BTreeMap::new();
        let (mut timeouts, mut errors, mut first_error) = (0, 0, None);
        for s in samples {
            let ms = s.elapsed.as_secs_f64() * 1000.0;
            match &s.outcome {
                Ok(status) => {
                    *statuses.entry(*status).or_insert(0) += 1;
                    latencies.push(ms);
                }
                Err(HttpError::Timeout) => {
                    timeouts += 1;
                    latencies.push(ms);
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        latencies.sort_by(f64::total_cmp);
        Stats {
            probes: samples.len(),
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            max_ms: latencies.last().copied(),
            statuses,
            timeouts,
            errors,
            first_error,
        }
    }

    /// "200×998 400×2", or "-" when nothing answered.
    pub fn answers(&self) -> String {
        if self.statuses.is_empty() {
            return "-".to_string();
        }
        self.statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn stats_count_answers_timeouts_and_errors() {
        let ms = Duration::from_millis;
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let samples: Vec<Sample> = [
            (1, Ok(200)),
            (3, Ok(200)),
            (2, Ok(400)),
            (1000, Err(HttpError::Timeout)),
            (
                0,
                Err(HttpError::Failed(format!("could not connect: {refused}"))),
            ),
        ]
        .into_iter()
        .map(|(t, outcome)| Sample {
            elapsed: ms(t),
            outcome,
        })
        .collect();
        let s = Stats::of(&samples);
        assert_eq!(s.probes, 5);
        assert_eq!((s.timeouts, s.errors), (1, 1));
        assert_eq!(s.answers(), "200×2 400×1");
        assert_eq!(s.p50_ms.map(f64::round), Some(2.0));
        assert_eq!(s.max_ms.map(f64::round), Some(1000.0));
        assert!(s
            .first_error
            .is_some_and(|e| e.contains("could not connect")));
    }
}
