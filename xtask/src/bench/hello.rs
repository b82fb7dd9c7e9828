//! The hello scenario: req/s and p99 of a CPU-bound view (`/hello`) and of a
//! view that waits outside the GIL (`/sleep?ms=10`) per server, and Django's
//! in-process rate of the CPU-bound one.
//!
//! Each workload is compared with granian's best configuration for it, so that
//! hurricane's one default meets each peer on the peer's best ground.

use std::path::Path;
use std::time::Duration;

use clap::ValueEnum;

use super::server::{self, Server};
use super::{
    all_measured, inprocess, machine_line, measure_rounds, median, median_report, verdict, wrk,
    Args, NeedsOption, Peer, Pinning,
};
use crate::error::{bail, Result};
use crate::venv::Venv;

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// `--path` (default /hello): Django computes; one Python thread is best.
    Cpu,
    /// `--io-path` (default /sleep?ms=10): the view waits outside the GIL;
    /// many threads are needed.
    Io,
}

/// What a workload requests and which peer configuration it is judged against.
struct Plan<'a> {
    workload: Workload,
    path: &'a str,
    connections: u32,
    /// granian's best configuration for this workload.
    best_peer: Peer,
    what: &'static str,
}

impl<'a> Plan<'a> {
    fn new(workload: Workload, args: &'a Args) -> Self {
        match workload {
            Workload::Cpu => Plan {
                workload,
                path: &args.path,
                connections: args.connections,
                best_peer: Peer::GranianSt,
                what: "CPU-bound: one Python thread is best",
            },
            Workload::Io => Plan {
                workload,
                path: &args.io_path,
                connections: args.io_connections,
                best_peer: Peer::GranianBt32,
                what: "waits outside the GIL: many Python threads are needed",
            },
        }
    }
}

struct Row {
    peer: Peer,
    outcome: Result<wrk::Report, String>,
}

pub fn run(args: &Args, venv: &Venv, pin: &Pinning, logs: &Path) -> Result<()> {
    let mut failed = Vec::new();
    for &workload in &args.workloads {
        let plan = Plan::new(workload, args);
        if let Err(e) = run_workload(&plan, args, venv, pin, logs) {
            failed.push(e.to_string());
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}

fn run_workload(
    plan: &Plan<'_>,
    args: &Args,
    venv: &Venv,
    pin: &Pinning,
    logs: &Path,
) -> Result<()> {
    let what = format!("req/s of {}", plan.path);
    let needs = NeedsOption {
        option: "--concurrency",
        missing: "predates adaptive Python concurrency (issue 6)",
        peers_only:
            "cargo xtask bench --scenarios hello --servers granian-st,granian-bt32,granian,gunicorn",
    };
    let runs = measure_rounds(
        &what,
        &args.servers,
        args.rounds,
        &needs,
        Vec::new,
        |peer, list| {
            list.push(measure(peer, plan, venv, args, pin, logs)?);
            Ok(())
        },
    );
    let inproc = (plan.workload == Workload::Cpu).then(|| inprocess_rate(plan, args, venv, pin));

    let rows: Vec<Row> = runs
        .iter()
        .map(|run| Row {
            peer: run.server,
            outcome: run
                .outcome
                .as_ref()
                .map(|list| median_report(list))
                .map_err(Clone::clone),
        })
        .collect();
    report(
        plan,
        args,
        pin,
        venv,
        &rows,
        inproc.as_ref().and_then(|r| r.as_ref().ok().copied()),
    );
    all_measured(&what, &runs)?;
    if let Some(Err(e)) = inproc {
        bail!("the in-process measurement failed: {e}");
    }
    Ok(())
}

/// Django's in-process rate of the workload's path: the median over the rounds.
fn inprocess_rate(plan: &Plan<'_>, args: &Args, venv: &Venv, pin: &Pinning) -> Result<f64> {
    let mut rates = Vec::new();
    for _ in 0..args.rounds {
        println!(
            "xtask bench: Django in-process, {}s",
            args.inprocess_seconds
        );
        rates.push(inprocess::run(
            venv,
            plan.path,
            args.inprocess_seconds,
            pin.server.as_deref(),
        )?);
    }
    Ok(median(rates.into_iter()))
}

fn measure(
    peer: Peer,
    plan: &Plan<'_>,
    venv: &Venv,
    args: &Args,
    pin: &Pinning,
    logs: &Path,
) -> Result<wrk::Report> {
    let port = server::free_port()?;
    let cmd = peer.command(venv, port, pin.server.as_deref());
    let log = logs.join(format!("{}-{:?}.log", peer.name(), plan.workload).to_lowercase());
    let mut server = Server::start(peer.name(), port, cmd, log)?;
    server.wait_ready(plan.path, Duration::from_secs(60))?;
    let url = server.url(plan.path);
    let load = pin.load.as_deref();
    println!("xtask bench: {} warm-up {}s", peer.name(), args.warmup);
    wrk::run(&url, plan.connections, args.warmup, load)?;
    println!(
        "xtask bench: {} measuring: wrk -t1 -c{} -d{}s --latency {url}",
        peer.name(),
        plan.connections,
        args.duration
    );
    let report = wrk::run(&url, plan.connections, args.duration, load)?;
    server.stop();
    if report.requests == 0 {
        bail!("wrk completed no request against {}", peer.name());
    }
    Ok(report)
}

/// `value` / `base` as "1.23x", or "n/a".
fn ratio(value: f64, base: Option<&wrk::Report>) -> String {
    match base {
        Some(b) if b.requests_per_sec > 0.0 => format!("{:.2}x", value / b.requests_per_sec),
        _ => "n/a".to_string(),
    }
}

/// "; the mean ..." for an absolute latency target: with `connections` closed-loop
/// clients the mean latency is `connections` / req/s, so no server's mean is below
/// `connections` / Django's in-process rate on this machine, and its p99 is above that.
fn latency_floor(connections: u32, inproc: Option<f64>) -> String {
    match inproc {
        Some(rps) if rps > 0.0 => format!(
            "; the mean at c{connections} is at least {connections} / {rps:.0} in-process req/s = {:.2} ms here",
            f64::from(connections) * 1000.0 / rps
        ),
        _ => String::new(),
    }
}

fn report(
    plan: &Plan<'_>,
    args: &Args,
    pin: &Pinning,
    venv: &Venv,
    rows: &[Row],
    inproc: Option<f64>,
) {
    let measured = |peer: Peer| {
        rows.iter()
            .find(|r| r.peer == peer)
            .and_then(|r| r.outcome.as_ref().ok())
    };
    let best = measured(plan.best_peer);
    let best_name = plan.best_peer.name();

    println!();
    let rounds = if args.rounds > 1 {
        format!("; median of {} rounds", args.rounds)
    } else {
        String::new()
    };
    println!(
        "GET {} ({}) on examples/mysite; wrk -t1 -c{} -d{}s --latency after a {}s warm-up; {}{rounds}",
        plan.path, plan.what, plan.connections, args.duration, args.warmup, pin.description
    );
    println!("{}", machine_line(venv));
    println!();
    println!("| server | req/s | p99 ms | errors | vs {best_name} |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for row in rows {
        match &row.outcome {
            Ok(r) => println!(
                "| {} | {:.0} | {:.2} | {} | {} |",
                row.peer.name(),
                r.requests_per_sec,
                r.p99_ms,
                r.errors,
                ratio(r.requests_per_sec, best)
            ),
            Err(_) => println!("| {} | failed | - | - | - |", row.peer.name()),
        }
    }
    if plan.workload == Workload::Cpu {
        match inproc {
            Some(rps) => println!(
                "| django in-process | {rps:.0} | - | - | {} |",
                ratio(rps, best)
            ),
            None => println!("| django in-process | failed | - | - | - |"),
        }
    }
    println!();

    let Some(h) = measured(Peer::Hurricane) else {
        println!("targets: not checked (hurricane was not measured)");
        return;
    };
    if h.errors > 0 {
        println!("WARN hurricane had {} failed requests", h.errors);
    }
    match best {
        Some(b) => {
            let times = h.requests_per_sec / b.requests_per_sec;
            verdict(
                times >= 1.0,
                &format!("hurricane req/s >= 1.0x {best_name} ({times:.2}x)"),
            );
            let p99 = format!("{:.2} ms vs {:.2} ms", h.p99_ms, b.p99_ms);
            match plan.workload {
                Workload::Cpu => {
                    verdict(
                        h.p99_ms <= b.p99_ms,
                        &format!("hurricane p99 <= {best_name} p99 ({p99})"),
                    );
                    verdict(
                        h.p99_ms <= 2.5,
                        &format!(
                            "hurricane p99 <= 2.5 ms ({:.2} ms{})",
                            h.p99_ms,
                            latency_floor(plan.connections, inproc)
                        ),
                    );
                }
                Workload::Io => verdict(
                    h.p99_ms < b.p99_ms,
                    &format!("hurricane p99 < {best_name} p99 ({p99})"),
                ),
            }
        }
        None => println!("SKIP hurricane vs {best_name} ({best_name} not measured)"),
    }
    if plan.workload != Workload::Cpu {
        return;
    }
    match measured(Peer::Granian) {
        Some(g) => {
            let times = h.requests_per_sec / g.requests_per_sec;
            verdict(
                times >= 1.5,
                &format!("hurricane req/s >= 1.5x granian with its defaults ({times:.2}x)"),
            );
        }
        None => println!("SKIP hurricane vs granian (granian not measured)"),
    }
    match inproc {
        Some(rps) => {
            let times = h.requests_per_sec / rps;
            println!("hurricane / in-process: {times:.2}x");
            verdict(
                times >= 0.6,
                &format!("hurricane req/s >= 0.6x Django in-process ({times:.2}x)"),
            );
        }
        None => println!("SKIP hurricane vs in-process (not measured)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rps: f64) -> wrk::Report {
        wrk::Report {
            requests_per_sec: rps,
            p99_ms: 1.0,
            requests: 1,
            errors: 0,
        }
    }

    #[test]
    fn ratios_against_a_measured_peer_only() {
        assert_eq!(ratio(300.0, Some(&report(200.0))), "1.50x");
        assert_eq!(ratio(300.0, Some(&report(0.0))), "n/a");
        assert_eq!(ratio(300.0, None), "n/a");
    }

    #[test]
    fn latency_floor_is_connections_over_the_in_process_rate() {
        assert_eq!(
            latency_floor(16, Some(8000.0)),
            "; the mean at c16 is at least 16 / 8000 in-process req/s = 2.00 ms here"
        );
        assert_eq!(latency_floor(16, Some(0.0)), "");
        assert_eq!(latency_floor(16, None), "");
    }
}
