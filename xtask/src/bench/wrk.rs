//! Running wrk and reading its report.

use super::server::pinned;
use super::{median, Ctx};
use crate::cmd::Run;
use crate::error::{bail, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub requests_per_sec: f64,
    pub p99_ms: f64,
    pub requests: u64,
    /// Non-2xx/3xx responses plus socket errors (connect, read, write, timeout).
    pub errors: u64,
}

/// Make sure `wrk` is on PATH, installing Debian's package if not.
pub fn ensure_installed() -> Result<()> {
    crate::debian::ensure_program("wrk", "wrk").map(drop)
}

/// `wrk -t1 -c<connections> -d<seconds>s --latency <url>`, optionally
/// pinned with `taskset -c <cpus>`.
pub fn run(url: &str, connections: u32, seconds: u64, cpus: Option<&str>) -> Result<Report> {
    let mut cmd = pinned(cpus, "wrk");
    cmd.args([
        "-t1".to_string(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".to_string(),
        url.to_string(),
    ]);
    let out = cmd.read()?;
    parse(&out).map_err(|e| crate::error::Error::new(format!("{e}; wrk printed:\n{out}")))
}

/// The unmeasured warm-up run against `name`.
pub fn warm_up(name: &str, url: &str, connections: u32, ctx: &Ctx) -> Result<()> {
    println!("xtask bench: {name} warm-up {}s: {url}", ctx.common.warmup);
    run(url, connections, ctx.common.warmup, ctx.pin.load.as_deref()).map(drop)
}

/// A warm-up, then the measured run; an error when no request completed.
pub fn measure(name: &str, url: &str, connections: u32, ctx: &Ctx) -> Result<Report> {
    warm_up(name, url, connections, ctx)?;
    let seconds = ctx.common.duration;
    println!("xtask bench: {name} measuring: wrk -t1 -c{connections} -d{seconds}s --latency {url}");
    let report = run(url, connections, seconds, ctx.pin.load.as_deref())?;
    if report.requests == 0 {
        bail!("wrk completed no request against {name} on {url}");
    }
    Ok(report)
}

/// Median req/s and median p99 over the rounds; requests and errors summed.
pub fn median_report(list: &[Report]) -> Report {
    Report {
        requests_per_sec: median(list.iter().map(|r| r.requests_per_sec)),
        p99_ms: median(list.iter().map(|r| r.p99_ms)),
        requests: list.iter().map(|r| r.requests).sum(),
        errors: list.iter().map(|r| r.errors).sum(),
    }
}

pub fn parse(out: &str) -> Result<Report> {
    let mut rps = None;
    let mut p99 = None;
    let mut requests = None;
    let mut errors = 0u64;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = duration_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1))
                .filter_map(|n| n.parse::<u64>().ok())
                .sum::<u64>();
        } else if line.contains(" requests in ") {
            requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
        }
    }
    let (Some(requests_per_sec), Some(p99_ms), Some(requests)) = (rps, p99, requests) else {
        bail!("could not find Requests/sec, the 99% latency and the request count in wrk's output");
    };
    Ok(Report {
        requests_per_sec,
        p99_ms,
        requests,
        errors,
    })
}

/// wrk durations: `812.00us`, `1.55ms`, `2.01s`, `1.00m`.
fn duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(num * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:8000/hello
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   790.35us  120.11us   9.87ms   91.20%
    Req/Sec    20.50k   512.33    21.40k    70.00%
  Latency Distribution
     50%  747.00us
     75%  812.00us
     90%    0.95ms
     99%    1.55ms
  204876 requests in 10.00s, 25.40MB read
  Non-2xx or 3xx responses: 5
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  20486.59
Transfer/sec:      2.54MB
";

    #[test]
    fn parses_a_wrk_report() {
        let r = parse(SAMPLE).expect("sample parses");
        assert_eq!(r.requests, 204_876);
        assert!((r.requests_per_sec - 20486.59).abs() < 1e-6);
        assert!((r.p99_ms - 1.55).abs() < 1e-9);
        assert_eq!(r.errors, 8);
    }

    #[test]
    fn converts_units() {
        assert_eq!(duration_ms("500.00us"), Some(0.5));
        assert_eq!(duration_ms("2.00s"), Some(2000.0));
        assert_eq!(duration_ms("1.00m"), Some(60_000.0));
        assert_eq!(duration_ms("3parsecs"), None);
    }

    #[test]
    fn rejects_output_without_a_report() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }
}
