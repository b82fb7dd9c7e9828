//! A probe client that behaves like the kubelet's HTTP probe: every request
//! on a fresh TCP connection (the kubelet disables keep-alive and sends
//! `Connection: close`), one at a time at a fixed rate, each with a deadline
//! for the whole exchange (the kubelet's `timeoutSeconds`, 1 s by default).
//! Each probe is timed from `connect()` to the last byte of its response.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{bail, Result};

/// Why a probe got no HTTP answer.
#[derive(Debug)]
pub enum ProbeError {
    /// The TCP connection could not be made (e.g. refused: nobody listens).
    Connect(io::Error),
    /// No complete answer before the deadline.
    Timeout,
    /// Writing the request or reading the answer failed.
    Io(io::Error),
    /// The server closed the connection before a complete answer.
    Closed,
    /// The answer is not an HTTP/1.x response.
    Malformed(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Connect(e) => write!(f, "could not connect: {e}"),
            ProbeError::Timeout => f.write_str("no complete answer before the deadline"),
            ProbeError::Io(e) => write!(f, "I/O error: {e}"),
            ProbeError::Closed => f.write_str("connection closed before a complete answer"),
            ProbeError::Malformed(why) => write!(f, "not an HTTP/1.x response: {why}"),
        }
    }
}

impl std::error::Error for ProbeError {}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// One probe: `GET path` on a new connection to `addr`, as the kubelet sends it
/// (Go's net/http with keep-alive disabled); the status code.
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let headers = "User-Agent: kube-probe/1.31\r\nAccept: */*\r\n";
    get(addr, path, headers, timeout).map(|(status, _)| status)
}

/// `GET path` on a new connection (`Connection: close`, plus `headers`, each ending in
/// CRLF) with a deadline for the whole exchange: status and body.
pub fn get(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), ProbeError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if is_timeout(&e) {
            ProbeError::Timeout
        } else {
            ProbeError::Connect(e)
        }
    })?;
    let _ = stream.set_nodelay(true);
    let io_err = |e: io::Error| {
        if is_timeout(&e) {
            ProbeError::Timeout
        } else {
            ProbeError::Io(e)
        }
    };
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to set_*_timeout.
        (!d.is_zero()).then_some(d).ok_or(ProbeError::Timeout)
    };
    stream.set_write_timeout(Some(left()?)).map_err(io_err)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io_err)?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut head: Option<Head> = None;
    loop {
        if let Some(h) = head {
            if let Some(len) = h.content_length {
                if buf.len() >= h.head_len + len {
                    return Ok((h.status, buf[h.head_len..h.head_len + len].to_vec()));
                }
            }
        }
        stream.set_read_timeout(Some(left()?)).map_err(io_err)?;
        let n = stream.read(&mut chunk).map_err(io_err)?;
        if n == 0 {
            // EOF: fine once the head is in and the body had no length.
            return match head {
                Some(h) if h.content_length.is_none() => Ok((h.status, buf[h.head_len..].to_vec())),
                _ => Err(ProbeError::Closed),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        if head.is_none() {
            head = parse_head(&buf).map_err(ProbeError::Malformed)?;
        }
    }
}

/// What the prober needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes up to and including the blank line.
    pub head_len: usize,
    /// `Content-Length`, when present (and not overridden by chunking).
    pub content_length: Option<usize>,
}

/// Parse the head of an HTTP/1.x response; `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("no end of the response head in the first 64 KiB".to_string());
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| "the response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    // A chunked body (or one with no length) runs to EOF: we sent
    // `Connection: close`. 1xx, 204 and 304 answers have no body.
    let content_length = if chunked {
        None
    } else if matches!(status, 100..=199 | 204 | 304) {
        Some(0)
    } else {
        content_length
    };
    Ok(Some(Head {
        status,
        head_len: end + 4,
        content_length,
    }))
}

/// One probe's result and how long it took.
#[derive(Debug)]
pub struct Sample {
    pub elapsed: Duration,
    pub outcome: Result<u16, ProbeError>,
}

/// A thread probing one path at a fixed rate until stopped.
pub struct Prober {
    path: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

impl Prober {
    /// Start probing `path` on `addr` every `interval` (the next probe starts
    /// on the next tick, or at once when one took longer than the interval,
    /// as the kubelet's ticker does), each with `timeout`.
    pub fn start(addr: SocketAddr, path: &str, interval: Duration, timeout: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let p = path.to_string();
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                }
                let start = Instant::now();
                let outcome = probe(addr, &p, timeout);
                samples.push(Sample {
                    elapsed: start.elapsed(),
                    outcome,
                });
                next = (next + interval).max(Instant::now());
            }
            samples
        });
        Prober {
            path: path.to_string(),
            stop,
            handle,
        }
    }

    /// Stop after the probe in flight and return every sample.
    pub fn finish(self) -> Result<Vec<Sample>> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(samples) => Ok(samples),
            Err(_) => bail!("the prober thread for {} panicked", self.path),
        }
    }
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
                Err(ProbeError::Timeout) => {
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

/// Nearest-rank percentile of sorted values: the smallest value with at
/// least `p`% of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_a_complete_head() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nalive";
        let h = parse_head(r).expect("valid").expect("complete");
        assert_eq!(h.status, 200);
        assert_eq!(h.content_length, Some(5));
        assert_eq!(&r[h.head_len..], b"alive");
    }

    #[test]
    fn waits_for_the_rest_of_the_head() {
        assert_eq!(
            parse_head(b"HTTP/1.1 400 Bad Request\r\nContent-Le"),
            Ok(None)
        );
        assert_eq!(parse_head(b""), Ok(None));
    }

    #[test]
    fn headers_are_case_insensitive_and_chunked_runs_to_eof() {
        let h = parse_head(b"HTTP/1.0 503 x\r\ncontent-length:  0\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((h.status, h.content_length), (503, Some(0)));
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(h.content_length, None);
        let h = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(h.content_length, Some(0));
    }

    #[test]
    fn rejects_what_is_not_http() {
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn stats_count_answers_timeouts_and_errors() {
        let ms = Duration::from_millis;
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let samples = vec![
            Sample {
                elapsed: ms(1),
                outcome: Ok(200),
            },
            Sample {
                elapsed: ms(3),
                outcome: Ok(200),
            },
            Sample {
                elapsed: ms(2),
                outcome: Ok(400),
            },
            Sample {
                elapsed: ms(1000),
                outcome: Err(ProbeError::Timeout),
            },
            Sample {
                elapsed: ms(0),
                outcome: Err(ProbeError::Connect(refused)),
            },
        ];
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

    /// A one-shot HTTP server on a free port answering `response` to the
    /// first connection.
    fn serve_once(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req);
                let _ = s.write_all(response);
            }
        });
        addr
    }

    #[test]
    fn probes_a_real_socket() {
        let t = Duration::from_secs(2);
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalive");
        assert_eq!(probe(addr, "/alive", t).expect("answer"), 200);
        // No length: read to EOF.
        let addr = serve_once(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        assert_eq!(probe(addr, "/ready", t).expect("answer"), 400);
        // Closed mid-body.
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nali");
        assert!(matches!(probe(addr, "/alive", t), Err(ProbeError::Closed)));
    }

    #[test]
    fn refused_and_silent_servers_fail_clearly() {
        let t = Duration::from_millis(300);
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        assert!(matches!(
            probe(addr, "/alive", t),
            Err(ProbeError::Connect(_))
        ));
        // Accepts (backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = silent.local_addr().expect("addr");
        assert!(matches!(probe(addr, "/alive", t), Err(ProbeError::Timeout)));
        drop(silent);
    }
}
