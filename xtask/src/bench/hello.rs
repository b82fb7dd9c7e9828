//! The hello scenario (README.md, "hello"): req/s and p99 of a CPU-bound
//! view (`/hello`) and of a view that waits outside the GIL (`/sleep?ms=10`)
//! per server, measured with wrk, and Django's in-process rate of the
//! CPU-bound one (`xtask/scripts/inprocess.py`: the WSGI callable called in a
//! loop, no server around it).
//!
//! Each workload is compared with granian's best configuration for it, so that
//! hurricane's one default meets each peer on the peer's best ground.

use std::process::Command;

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
    /// its defaults.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,manage.py,granian-st,granian-bt32,granian,gunicorn"
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
}

impl BenchServer for Peer {
    const HURRICANE: Self = Peer::Hurricane;
}

impl Peer {
    /// How each server is started: its defaults plus the loopback address.
    fn command(self, ctx: &Ctx, port: u16) -> Result<Command> {
        let (venv, cpus) = (&ctx.venv, ctx.pin.server.as_deref());
        let granian_options: &[&str] = match self {
            Peer::Hurricane => return Ok(server::hurricane(venv, cpus, &[], port, "0")),
            Peer::ManagePy => {
                let Some(package) = &ctx.package else {
                    bail!(
                        "internal error: the venv with hurricane's Python package was not set up"
                    );
                };
                return Ok(server::manage_py_serve(package, cpus, port));
            }
            Peer::Gunicorn => return Ok(server::gunicorn(venv, cpus, port)),
            Peer::Granian => &[],
            Peer::GranianSt => &["--blocking-threads", "1", "--runtime-mode", "st"],
            Peer::GranianBt32 => &["--blocking-threads", "32"],
        };
        let mut c = server::in_project(venv, cpus, venv.bin("granian"));
        c.args(["--interface", "wsgi", "--workers", "1"])
            .args(granian_options)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("mysite.wsgi:application");
        Ok(c)
    }
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
    type Measured = Vec<wrk::Report>;

    fn command(&self, peer: Peer, ports: Ports) -> Result<Command> {
        peer.command(self.ctx, ports.app)
    }

    fn measure(&self, srv: &mut Server, peer: Peer, into: &mut Vec<wrk::Report>) -> Result<()> {
        let url = srv.url(self.path);
        into.push(wrk::measure(
            &peer.name(),
            &url,
            self.connections,
            self.ctx,
        )?);
        Ok(())
    }

    fn report(&self, runs: &[ServerRuns<Peer, Vec<wrk::Report>>]) -> Table {
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
            .map(|r| (r.server, r.measured().map(|list| median_report(list))))
            .collect();
        let measured = |peer| medians.iter().find(|(p, _)| *p == peer).and_then(|m| m.1);
        let best_rps = measured(self.best_peer).map(|b| b.requests_per_sec);
        for (peer, report) in &medians {
            let Some(r) = report else {
                t.failed(&[&peer.name()]);
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
        t
    }
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
