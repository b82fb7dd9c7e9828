//! The hello scenario (README.md, "hello"): req/s and p99 of a CPU-bound
//! view (`/hello`) and of a view that waits outside the GIL (`/sleep?ms=10`)
//! per server, measured with wrk, and Django's in-process rate of the
//! CPU-bound one (`xtask/scripts/inprocess.py`: the WSGI callable called in a
//! loop, no server around it).
//!
//! Each workload is compared with granian's best configuration for it, so that
//! hurricane's one default meets each peer on the peer's best ground. The
//! two-process rows (`hurricane --processes 2`, gunicorn, granian and uvicorn
//! with two workers, each peer with its best settings for the workload) are
//! judged against each other.

use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use super::scenario::{self, Plan, Scenario, ServerRuns, Table};
use super::server::{self, Ports, Server};
use super::wrk::{self, median_report};
use super::{all_ok, median, times, verdict, BenchServer, Ctx};
use crate::cmd::{Hint, Run};
use crate::error::{bail, Result};
use crate::paths;

#[derive(Parser)]
pub struct Args {
    /// Workloads, in order (comma separated): cpu (`--path`, CPU-bound, `-c`
    /// connections), io (`--io-path`, waits outside the GIL, `--io-connections`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,io")]
    workloads: Vec<Workload>,
    /// wrk connections (-c) of the cpu workload.
    #[arg(short = 'c', long, default_value_t = 16)]
    connections: u32,
    /// wrk connections of the io workload.
    #[arg(long, default_value_t = 64)]
    io_connections: u32,
    /// Seconds of Django's in-process loop.
    #[arg(long, default_value = "5", value_parser = super::parse_secs)]
    inprocess_seconds: u64,
    /// Servers measured, in order (comma separated): manage.py is hurricane
    /// started by its Python package (`python manage.py serve`, the wheel built
    /// for python3), granian-st (`--blocking-threads 1 --runtime-mode st`) is
    /// granian's best configuration for CPU-bound views, granian-bt32
    /// (`--blocking-threads 32`) its best for views that wait on I/O, granian
    /// its defaults. The two-process rows: hurricane-p2 (`--processes 2`,
    /// skipped while the binary has no such option), granian-w2 (`--workers
    /// 2`), gunicorn-w2 (`-w 2`) and uvicorn-w2 (`--workers 2`, mysite.asgi),
    /// each peer with its best settings for the workload.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,manage.py,granian-st,granian-bt32,granian,gunicorn,\
                         hurricane-p2,granian-w2,gunicorn-w2,uvicorn-w2"
    )]
    pub servers: Vec<Peer>,
    /// URL path of the cpu workload.
    #[arg(long, default_value = "/hello")]
    path: String,
    /// URL path of the io workload: a view that sleeps 10 ms.
    #[arg(long, default_value = "/sleep?ms=10")]
    io_path: String,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    Hurricane,
    /// hurricane inside `python manage.py serve` (the Python package): the same
    /// runtime, so the same figures.
    #[value(name = "manage.py")]
    ManagePy,
    Gunicorn,
    Granian,
    /// granian's best configuration for CPU-bound views: one blocking thread on a
    /// single-threaded runtime (no GIL hand-offs).
    GranianSt,
    /// granian's best configuration for views that wait on I/O: 32 blocking threads.
    GranianBt32,
    /// hurricane with default flags and `--processes 2`: a supervisor and two
    /// servers sharing the port.
    #[value(name = "hurricane-p2")]
    HurricaneP2,
    /// granian with two workers, each with granian-st's or granian-bt32's settings.
    #[value(name = "granian-w2")]
    GranianW2,
    /// gunicorn with two workers: sync for the cpu workload, gthread with 32
    /// threads each for the io one (a sync worker runs one request at a time).
    #[value(name = "gunicorn-w2")]
    GunicornW2,
    /// uvicorn with two workers, uvloop and httptools, on Django's ASGI
    /// application (mysite.asgi), its access log off as gunicorn's and granian's are.
    #[value(name = "uvicorn-w2")]
    UvicornW2,
}

impl BenchServer for Peer {
    const HURRICANE: Self = Peer::Hurricane;
}

/// The peers' two-process rows, which hurricane-p2 is judged against.
const TWO_PROCESS_PEERS: [Peer; 3] = [Peer::GranianW2, Peer::GunicornW2, Peer::UvicornW2];

/// granian's best options for CPU-bound views: one blocking thread on a
/// single-threaded runtime (no GIL hand-offs).
const GRANIAN_CPU: &[&str] = &["--blocking-threads", "1", "--runtime-mode", "st"];
/// granian's best options for views that wait on I/O.
const GRANIAN_IO: &[&str] = &["--blocking-threads", "32"];

impl Peer {
    /// How each server is started for `workload`: its defaults (or its best
    /// settings for the workload) plus the loopback address.
    fn command(self, ctx: &Ctx, workload: Workload, port: u16) -> Result<Command> {
        let (venv, cpus) = (&ctx.venv, ctx.pin.server.as_deref());
        let cpu = workload == Workload::Cpu;
        let (workers, granian_options): (&str, &[&str]) = match self {
            Peer::Hurricane => return Ok(server::hurricane(venv, cpus, &[], port, "0")),
            Peer::HurricaneP2 => {
                let options = ["--processes", "2"];
                return Ok(server::hurricane(venv, cpus, &options, port, "0"));
            }
            Peer::ManagePy => {
                let Some(package) = &ctx.package else {
                    bail!(
                        "internal error: the venv with hurricane's Python package was not set up"
                    );
                };
                return Ok(server::manage_py_serve(package, cpus, port));
            }
            Peer::Gunicorn => return Ok(server::gunicorn(venv, cpus, &["-w", "1"], port)),
            Peer::GunicornW2 => {
                let options: &[&str] = match cpu {
                    true => &["-w", "2"],
                    false => &["-w", "2", "-k", "gthread", "--threads", "32"],
                };
                return Ok(server::gunicorn(venv, cpus, options, port));
            }
            Peer::UvicornW2 => return Ok(uvicorn(ctx, port)),
            Peer::Granian => ("1", &[]),
            Peer::GranianSt => ("1", GRANIAN_CPU),
            Peer::GranianBt32 => ("1", GRANIAN_IO),
            Peer::GranianW2 => ("2", if cpu { GRANIAN_CPU } else { GRANIAN_IO }),
        };
        let mut c = server::in_project(venv, cpus, venv.bin("granian"));
        c.args(["--interface", "wsgi", "--workers", workers])
            .args(granian_options)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("mysite.wsgi:application");
        Ok(c)
    }
}

/// `uvicorn mysite.asgi:application --workers 2 --loop uvloop --http httptools
/// --no-access-log`: Django's ASGI handler runs each sync view in a thread of
/// its own request context, so the io workload's views wait side by side.
fn uvicorn(ctx: &Ctx, port: u16) -> Command {
    let venv = &ctx.venv;
    let mut c = server::in_project(venv, ctx.pin.server.as_deref(), venv.bin("uvicorn"));
    c.args(["--workers", "2", "--loop", "uvloop", "--http", "httptools"])
        .arg("--no-access-log")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("mysite.asgi:application");
    c
}

/// One round against one server: wrk's report and, for hurricane-p2, the CPU
/// its supervisor used.
#[derive(Clone, Copy)]
struct Round {
    report: wrk::Report,
    /// The supervisor's utime + stime over the load, in percent of one core.
    supervisor_cpu: Option<f64>,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// `--path` (default /hello): Django computes; one Python thread is best.
    Cpu,
    /// `--io-path` (default /sleep?ms=10): the view waits outside the GIL;
    /// many threads are needed.
    Io,
}

/// One workload: what it requests and which peer configuration it is judged against.
struct Hello<'a> {
    ctx: &'a Ctx,
    workload: Workload,
    path: &'a str,
    connections: u32,
    /// granian's best configuration for this workload.
    best_peer: Peer,
    what: &'static str,
    /// Django's in-process req/s (cpu workload only).
    inproc: Option<f64>,
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<()> {
    all_ok(args.workloads.iter().map(|&workload| {
        let (path, connections, best_peer, what) = match workload {
            Workload::Cpu => (
                &args.path,
                args.connections,
                Peer::GranianSt,
                "CPU-bound: one Python thread is best",
            ),
            Workload::Io => (
                &args.io_path,
                args.io_connections,
                Peer::GranianBt32,
                "waits outside the GIL: many Python threads are needed",
            ),
        };
        let inproc = (workload == Workload::Cpu).then(|| inprocess_rate(path, args, ctx));
        let hello = Hello {
            ctx,
            workload,
            path,
            connections,
            best_peer,
            what,
            inproc: inproc.as_ref().and_then(|r| r.as_ref().ok().copied()),
        };
        let name = format!("hello-{workload:?}").to_lowercase();
        let plan = Plan::new(format!("req/s of {path}"), &args.servers, None, name, path);
        scenario::run(&hello, plan, ctx).and_then(|()| match inproc {
            Some(Err(e)) => bail!("the in-process measurement failed: {e}"),
            _ => Ok(()),
        })
    }))
}

/// Django's in-process rate of `path`: the median over the rounds of
/// `xtask/scripts/inprocess.py`, which prints `rps=<float>` last.
fn inprocess_rate(path: &str, args: &Args, ctx: &Ctx) -> Result<f64> {
    let script = paths::root().join("xtask/scripts/inprocess.py");
    let seconds = args.inprocess_seconds.to_string();
    let mut rates = Vec::new();
    for _ in 0..ctx.common.rounds {
        println!("xtask bench: Django in-process, {seconds}s");
        let venv = &ctx.venv;
        let out = server::in_project(venv, ctx.pin.server.as_deref(), venv.python())
            .arg(&script)
            .args(["--path", path, "--seconds", &seconds])
            .read()
            .hint("the in-process benchmark could not run the example project's WSGI callable")?;
        for line in out.lines().filter(|l| !l.starts_with("rps=")) {
            println!("xtask bench: {line}");
        }
        let rps = out.lines().rev().find_map(|l| l.strip_prefix("rps="));
        match rps.and_then(|v| v.trim().parse::<f64>().ok()) {
            Some(rps) => rates.push(rps),
            None => bail!("{} printed no `rps=` line:\n{out}", script.display()),
        }
    }
    Ok(median(rates.into_iter()))
}

impl Scenario for Hello<'_> {
    type Server = Peer;
    type Measured = Vec<Round>;

    fn command(&self, peer: Peer, ports: Ports) -> Result<Command> {
        peer.command(self.ctx, self.workload, ports.app)
    }

    /// wrk's warm-up and measured run; for hurricane-p2 the supervisor's CPU
    /// time is read before and after both.
    fn measure(&self, srv: &mut Server, peer: Peer, into: &mut Vec<Round>) -> Result<()> {
        let url = srv.url(self.path);
        let load = || wrk::measure(&peer.name(), &url, self.connections, self.ctx);
        if peer != Peer::HurricaneP2 {
            let report = load()?;
            into.push(Round {
                report,
                supervisor_cpu: None,
            });
            return Ok(());
        }
        let (cpu_before, start) = (srv.cpu_time()?, Instant::now());
        let report = load()?;
        let used = srv.cpu_time()?.saturating_sub(cpu_before);
        into.push(Round {
            report,
            supervisor_cpu: Some(percent_of_a_core(used, start.elapsed())),
        });
        Ok(())
    }

    /// hurricane-p2 only while `hurricane serve --help` does not list `--processes`.
    fn skip(&self, peer: Peer) -> Result<Option<String>> {
        if peer != Peer::HurricaneP2 {
            return Ok(None);
        }
        let bin = paths::hurricane_bin();
        let help = Command::new(&bin)
            .args(["serve", "--help"])
            .read()
            .hint("build it with `cargo build --release -p hurricane-cli`")?;
        Ok((!help.contains("--processes")).then(|| {
            format!(
                "{} has no `serve --processes` yet (`hurricane serve --help` does not list it)",
                paths::shown(&bin)
            )
        }))
    }

    fn report(&self, runs: &[ServerRuns<Peer, Vec<Round>>]) -> Table {
        let rounds = self.ctx.common.rounds_note("median of {n} rounds");
        let (path, what, wrk) = (self.path, self.what, self.ctx.wrk_note(self.connections));
        let heading = format!("GET {path} ({what}) on examples/mysite; {wrk}{rounds}");
        let best_name = self.best_peer.name();
        let mut t = Table::new(
            vec![heading],
            &format!("server | >req/s | >p99 ms | >errors | >vs {best_name}"),
        );
        let medians: Vec<(Peer, Option<wrk::Report>)> = runs
            .iter()
            .map(|r| (r.server, r.measured().map(|rounds| median_of(rounds))))
            .collect();
        let measured = |peer| medians.iter().find(|(p, _)| *p == peer).and_then(|m| m.1);
        let best_rps = measured(self.best_peer).map(|b| b.requests_per_sec);
        for ((peer, report), run) in medians.iter().zip(runs) {
            let Some(r) = report else {
                match run.skipped() {
                    Some(_) => t.skipped(&[&peer.name()]),
                    None => t.failed(&[&peer.name()]),
                }
                continue;
            };
            let (rps, p99) = (
                format!("{:.0}", r.requests_per_sec),
                format!("{:.2}", r.p99_ms),
            );
            let vs = times(r.requests_per_sec, best_rps);
            t.row(&[&peer.name(), &rps, &p99, &r.errors, &vs]);
        }
        if self.workload == Workload::Cpu {
            let name = "django in-process";
            match self.inproc {
                Some(rps) => t.row(&[
                    &name,
                    &format!("{rps:.0}"),
                    &"-",
                    &"-",
                    &times(rps, best_rps),
                ]),
                None => t.failed(&[&name]),
            }
        }
        t.after = self.verdicts(
            measured(Peer::Hurricane),
            measured(self.best_peer),
            measured(Peer::Granian),
        );
        if let (Some(binary), Some(package)) = (measured(Peer::Hurricane), measured(Peer::ManagePy))
        {
            let x = package.requests_per_sec / binary.requests_per_sec;
            let line = format!("manage.py serve req/s >= 0.95x the binary's ({x:.2}x)");
            t.after.push(verdict(x >= 0.95, &line));
        }
        t.after.extend(two_process_lines(runs, &medians));
        t
    }
}

/// Median req/s and p99 over the rounds (see [`median_report`]).
fn median_of(rounds: &[Round]) -> wrk::Report {
    let reports: Vec<wrk::Report> = rounds.iter().map(|r| r.report).collect();
    median_report(&reports)
}

/// `used` CPU time over `wall` time, in percent of one core.
fn percent_of_a_core(used: Duration, wall: Duration) -> f64 {
    match wall.as_secs_f64() {
        w if w > 0.0 => used.as_secs_f64() / w * 100.0,
        _ => 0.0,
    }
}

/// The lines about hurricane-p2 (when it is in `runs`): its supervisor's CPU
/// and the verdict against the peers' two-process rows, or why it was skipped.
fn two_process_lines(
    runs: &[ServerRuns<Peer, Vec<Round>>],
    medians: &[(Peer, Option<wrk::Report>)],
) -> Vec<String> {
    let Some(run) = runs.iter().find(|r| r.server == Peer::HurricaneP2) else {
        return Vec::new();
    };
    let name = Peer::HurricaneP2.name();
    if let Some(why) = run.skipped() {
        return vec![format!("SKIP {name}: {why}")];
    }
    let Some(rounds) = run.measured() else {
        return vec![format!(
            "targets: {name} vs the two-process peers not checked ({name} was not measured)"
        )];
    };
    let cpu = median(rounds.iter().filter_map(|r| r.supervisor_cpu));
    let peers: Vec<(Peer, Option<wrk::Report>)> = medians
        .iter()
        .filter(|(p, _)| TWO_PROCESS_PEERS.contains(p))
        .copied()
        .collect();
    vec![
        format!(
            "{name} supervisor CPU: {cpu:.1}% of one core over the load \
             (utime+stime of the process started, not of its servers, from /proc/<pid>/stat)"
        ),
        ahead_of_peers(&name, &median_of(rounds), &peers),
    ]
}

/// "PASS hurricane-p2 req/s >= 1.0x and p99 < every two-process peer's
/// (granian-w2 1.12x, p99 4.10 vs 5.00 ms; ...)": one verdict over the measured
/// `peers`, SKIP when none was.
fn ahead_of_peers(name: &str, h: &wrk::Report, peers: &[(Peer, Option<wrk::Report>)]) -> String {
    let mut ok = true;
    let mut each = Vec::new();
    for (peer, report) in peers {
        let Some(p) = report else {
            each.push(format!("{} not measured", peer.name()));
            continue;
        };
        let x = h.requests_per_sec / p.requests_per_sec;
        ok &= x >= 1.0 && h.p99_ms < p.p99_ms;
        let (p99, theirs) = (h.p99_ms, p.p99_ms);
        each.push(format!(
            "{} {x:.2}x, p99 {p99:.2} vs {theirs:.2} ms",
            peer.name()
        ));
    }
    if peers.iter().all(|(_, r)| r.is_none()) {
        return format!("SKIP {name} vs the two-process peers (none was measured)");
    }
    let line = format!(
        "{name} req/s >= 1.0x and p99 < every two-process peer's ({})",
        each.join("; ")
    );
    verdict(ok, &line)
}

impl Hello<'_> {
    /// The PASS/FAIL lines of hurricane against the best peer, then for the
    /// cpu workload against granian's defaults and Django in-process.
    fn verdicts(
        &self,
        hurricane: Option<wrk::Report>,
        best: Option<wrk::Report>,
        granian: Option<wrk::Report>,
    ) -> Vec<String> {
        let Some(h) = hurricane else {
            return vec!["targets: not checked (hurricane was not measured)".to_string()];
        };
        let (cpu, best_name) = (self.workload == Workload::Cpu, self.best_peer.name());
        let mut out = Vec::new();
        if h.errors > 0 {
            out.push(format!("WARN hurricane had {} failed requests", h.errors));
        }
        match best {
            Some(b) => {
                out.push(at_least(
                    h.requests_per_sec / b.requests_per_sec,
                    1.0,
                    &best_name,
                ));
                // The io workload's p99 must be strictly lower.
                let (ok, op) = match cpu {
                    true => (h.p99_ms <= b.p99_ms, "<="),
                    false => (h.p99_ms < b.p99_ms, "<"),
                };
                let p99 = format!("{:.2} ms vs {:.2} ms", h.p99_ms, b.p99_ms);
                let line = format!("hurricane p99 {op} {best_name} p99 ({p99})");
                out.push(verdict(ok, &line));
                if cpu {
                    let floor = latency_floor(self.connections, self.inproc);
                    let line = format!("hurricane p99 <= 2.5 ms ({:.2} ms{floor})", h.p99_ms);
                    out.push(verdict(h.p99_ms <= 2.5, &line));
                }
            }
            None => out.push(format!(
                "SKIP hurricane vs {best_name} ({best_name} not measured)"
            )),
        }
        if cpu {
            out.extend(self.cpu_verdicts(&h, granian));
        }
        out
    }

    /// The cpu workload's lines against granian's defaults and Django in-process.
    fn cpu_verdicts(&self, h: &wrk::Report, granian: Option<wrk::Report>) -> Vec<String> {
        let mut out = vec![match granian {
            Some(g) => at_least(
                h.requests_per_sec / g.requests_per_sec,
                1.5,
                "granian with its defaults",
            ),
            None => "SKIP hurricane vs granian (granian not measured)".to_string(),
        }];
        match self.inproc {
            Some(rps) => {
                let x = h.requests_per_sec / rps;
                out.push(format!("hurricane / in-process: {x:.2}x"));
                out.push(at_least(x, 0.6, "Django in-process"));
            }
            None => out.push("SKIP hurricane vs in-process (not measured)".to_string()),
        }
        out
    }
}

/// "PASS hurricane req/s >= 1.5x granian with its defaults (1.62x)".
fn at_least(x: f64, min: f64, of: &str) -> String {
    verdict(
        x >= min,
        &format!("hurricane req/s >= {min:.1}x {of} ({x:.2}x)"),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(requests_per_sec: f64, p99_ms: f64) -> wrk::Report {
        wrk::Report {
            requests_per_sec,
            p99_ms,
            requests: 1000,
            errors: 0,
        }
    }

    #[test]
    fn two_process_verdict_needs_more_req_s_and_a_lower_p99_than_each_peer() {
        let h = report(9000.0, 3.0);
        let peers = [
            (Peer::GranianW2, Some(report(6000.0, 4.0))),
            (Peer::GunicornW2, None),
        ];
        assert_eq!(
            ahead_of_peers("hurricane-p2", &h, &peers),
            "PASS hurricane-p2 req/s >= 1.0x and p99 < every two-process peer's \
             (granian-w2 1.50x, p99 3.00 vs 4.00 ms; gunicorn-w2 not measured)"
        );
        let slower = [(Peer::UvicornW2, Some(report(6000.0, 2.0)))];
        assert!(ahead_of_peers("hurricane-p2", &h, &slower).starts_with("FAIL"));
        let none = [(Peer::UvicornW2, None)];
        assert!(ahead_of_peers("hurricane-p2", &h, &none).starts_with("SKIP"));
    }

    #[test]
    fn supervisor_cpu_is_a_share_of_one_core() {
        let pct = percent_of_a_core(Duration::from_millis(150), Duration::from_secs(12));
        assert!((pct - 1.25).abs() < 1e-9);
        assert_eq!(
            percent_of_a_core(Duration::from_secs(1), Duration::ZERO),
            0.0
        );
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
