//! The probe-latency scenario (`--scenarios probes`): hurricane and
//! django-hurricane 1.6.2 serve the example project one after another; while
//! wrk saturates the app port, two kubelet-like probers (see `prober`) time
//! `GET /alive` and `GET /ready` on the probe port. Issue 3's target is a
//! probe p99 under 10 ms for hurricane.
//!
//! The loads (`--probe-loads`), each `--load-connections` (128) connections:
//! - `hello`: `/hello` as fast as it goes. The one Python thread that computes
//!   holds the GIL almost all the time (Django is over 90% of its time), so
//!   anything a probe needs from Python waits for the GIL, and the I/O threads
//!   are as busy as they get: CPU saturation.
//! - `sleep`: `/sleep?ms=100` with `--load-connections` 128. Every Python
//!   thread is busy (hurricane: its 48, django-hurricane: min(32, CPUs + 4))
//!   and requests queue up behind them,
//!   while the GIL is mostly free: thread-pool saturation, the case where a
//!   server that answers probes from its request pool stops answering them.
//!   Readiness is expected to fail here (the queue is long); what counts is
//!   how fast it says so.
//! - `spin` (not by default): `/spin?ms=100`, a CPU-bound view: every thread
//!   busy *and* fighting for the GIL, the worst case for checks that need it.
//! - `idle` (not by default): no load, the baseline.
//!
//! Both servers run with their default flags; only the ports are chosen:
//! `--port P --probe-port Q` with two free ports.

use super::BenchServer;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use clap::ValueEnum;

use super::prober::{self, ProbeError, Prober, Sample, Stats};
use super::server::{self, Server};
use super::{median, pinned, wrk, Args, Pinning};
use crate::cmd::Cmd;
use crate::error::{bail, Result};
use crate::paths;
use crate::venv::Venv;

/// The probes timed, both on the probe port (both servers' default paths).
pub const PROBE_PATHS: [&str; 2] = ["/alive", "/ready"];

/// Issue 3's target for hurricane's probe p99.
const TARGET_P99_MS: f64 = 10.0;

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProbeServer {
    Hurricane,
    DjangoHurricane,
}

impl super::BenchServer for ProbeServer {
    const HURRICANE: Self = ProbeServer::Hurricane;

    fn name(self) -> &'static str {
        match self {
            ProbeServer::Hurricane => "hurricane",
            ProbeServer::DjangoHurricane => "django-hurricane",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Load {
    Hello,
    Sleep,
    Spin,
    Idle,
}

impl Load {
    /// The app path wrk requests; `None` for no load.
    fn path(self) -> Option<&'static str> {
        match self {
            Load::Hello => Some("/hello"),
            Load::Sleep => Some("/sleep?ms=100"),
            Load::Spin => Some("/spin?ms=100"),
            Load::Idle => None,
        }
    }

    fn describe(self, connections: u32) -> String {
        match self.path() {
            Some(path) => format!("GET {path} c{connections}"),
            None => "idle".to_string(),
        }
    }
}

/// The venvs the servers run from.
pub struct Venvs<'a> {
    /// Django for hurricane (target/venv).
    pub bench: &'a Venv,
    /// django-hurricane's own (target/venv-django-hurricane), when measured.
    pub django_hurricane: Option<&'a Venv>,
}

/// Everything measured for one server under one load, over all rounds.
#[derive(Default)]
struct Measured {
    /// wrk's req/s of each round.
    rps: Vec<f64>,
    /// wrk's failed requests, summed.
    app_errors: u64,
    /// Probe samples of every round, by probe path.
    samples: BTreeMap<&'static str, Vec<Sample>>,
}

type ServerRuns = super::ServerRuns<ProbeServer, BTreeMap<Load, Measured>>;

/// Run the scenario and print its table; an error names what could not be
/// measured (the table is printed anyway).
pub fn run(args: &Args, venvs: &Venvs, pin: &Pinning, logs: &Path) -> Result<()> {
    let needs = super::NeedsOption {
        option: "--probe-port",
        missing: "serves no probes (issue 3 is not in it)",
        peers_only: "cargo xtask bench --scenarios probes --probe-servers django-hurricane",
    };
    let runs = super::measure_rounds(
        "probes",
        &args.probe_servers,
        args.rounds,
        &needs,
        BTreeMap::new,
        |server, by_load| measure_server(server, args, venvs, pin, logs, by_load),
    );
    report(args, venvs, pin, &runs);
    super::all_measured("probes", &runs)
}

fn command(
    server: ProbeServer,
    venvs: &Venvs,
    port: u16,
    probe_port: u16,
    cpus: Option<&str>,
) -> Result<Cmd> {
    let (port, probe_port) = (port.to_string(), probe_port.to_string());
    let mut cmd = match server {
        ProbeServer::Hurricane => {
            let mut c = pinned(cpus, paths::hurricane_bin());
            c.args(["serve", "--host", "127.0.0.1", "--port", &port])
                .args(["--probe-port", &probe_port]);
            venvs.bench.activate(&mut c);
            c
        }
        ProbeServer::DjangoHurricane => {
            let Some(venv) = venvs.django_hurricane else {
                bail!("internal error: the django-hurricane venv was not set up");
            };
            // `serve` has no address option: it listens on every interface.
            let mut c = pinned(cpus, venv.python());
            c.args(["manage.py", "serve"])
                .args(["--settings", "mysite.settings_django_hurricane"])
                .args(["--port", &port, "--probe-port", &probe_port]);
            venv.activate(&mut c);
            // Its log lines reach the log file as they are written.
            c.env("PYTHONUNBUFFERED", "1");
            c
        }
    };
    cmd.dir(paths::example_project());
    Ok(cmd)
}

/// One round for one server: start it, then each load in turn.
fn measure_server(
    server: ProbeServer,
    args: &Args,
    venvs: &Venvs,
    pin: &Pinning,
    logs: &Path,
    by_load: &mut BTreeMap<Load, Measured>,
) -> Result<()> {
    let name = server.name();
    let port = server::free_port()?;
    let mut probe_port = server::free_port()?;
    while probe_port == port {
        probe_port = server::free_port()?;
    }
    let cmd = command(server, venvs, port, probe_port, pin.server.as_deref())?;
    let log = logs.join(format!("probes-{name}.log"));
    let mut srv = Server::start(name, port, cmd, log)?;
    srv.wait_ready("/hello", Duration::from_secs(60))?;
    let probe_addr = SocketAddr::from(([127, 0, 0, 1], probe_port));
    wait_probes(&mut srv, probe_addr, Duration::from_secs(15))?;

    for (i, &load) in args.probe_loads.iter().enumerate() {
        if i > 0 {
            // Let the queue of the previous load drain.
            sleep(Duration::from_secs(1));
        }
        let m = by_load.entry(load).or_default();
        measure_load(&mut srv, load, probe_addr, args, pin, m)?;
    }
    srv.stop();
    Ok(())
}

/// Poll `GET /alive` on the probe port until it answers 200: the app port
/// already answers, so start-up is over and the probes must pass.
fn wait_probes(srv: &mut Server, addr: SocketAddr, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let path = PROBE_PATHS[0];
    loop {
        srv.ensure_running("before its probes answered")?;
        let last = prober::probe(addr, path, Duration::from_secs(1));
        if let Ok(200) = last {
            return Ok(());
        }
        if start.elapsed() > timeout {
            let what = match &last {
                Ok(status) => format!("it answers {status}"),
                Err(e) => e.to_string(),
            };
            let hint = match last {
                Err(ProbeError::Connect(_)) => format!(
                    "\n  hint: nothing listens on the probe port although the app port {} \
                     answers; a build without probes (issue 3) ignores or lacks \
                     --probe-port. Measure django-hurricane alone with \
                     `--probe-servers django-hurricane`",
                    srv.port
                ),
                _ => String::new(),
            };
            bail!(
                "{} gave no 200 on GET {path} on its probe port {} within {}s ({what}); \
                 its output ({}):\n{}{hint}",
                srv.name,
                addr.port(),
                timeout.as_secs(),
                srv.log().display(),
                srv.log_tail()
            );
        }
        sleep(Duration::from_millis(100));
    }
}

fn measure_load(
    srv: &mut Server,
    load: Load,
    probe_addr: SocketAddr,
    args: &Args,
    pin: &Pinning,
    into: &mut Measured,
) -> Result<()> {
    let name = srv.name.clone();
    let conns = args.load_connections;
    let cpus = pin.load.as_deref();
    let url = load.path().map(|p| srv.url(p));
    if let Some(url) = &url {
        println!("xtask bench: {name} warm-up {}s: {url}", args.warmup);
        wrk::run(url, conns, args.warmup, cpus)?;
    }
    println!(
        "xtask bench: {name} probes under {} for {}s",
        load.describe(conns),
        args.duration
    );
    let interval = Duration::from_millis(args.probe_interval_ms);
    let timeout = Duration::from_millis(args.probe_timeout_ms);
    let probers: Vec<Prober> = PROBE_PATHS
        .iter()
        .map(|p| Prober::start(probe_addr, p, interval, timeout))
        .collect();
    let app = match &url {
        Some(url) => wrk::run(url, conns, args.duration, cpus).map(Some),
        None => {
            sleep(Duration::from_secs(args.duration));
            Ok(None)
        }
    };
    // Stop the probers whatever wrk did.
    let mut samples = Vec::new();
    for (path, p) in PROBE_PATHS.iter().zip(probers) {
        samples.push((*path, p.finish()?));
    }
    let app = app?;
    srv.ensure_running("during the measurement")?;
    if let Some(r) = app {
        if r.requests == 0 {
            bail!("wrk completed no request against {name} under {load:?} load");
        }
        into.rps.push(r.requests_per_sec);
        into.app_errors += r.errors;
    }
    for (path, list) in samples {
        into.samples.entry(path).or_default().extend(list);
    }
    Ok(())
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

fn report(args: &Args, venvs: &Venvs, pin: &Pinning, runs: &[ServerRuns]) {
    let rounds = if args.rounds > 1 {
        format!("; {} rounds pooled (req/s: median)", args.rounds)
    } else {
        String::new()
    };
    println!();
    println!(
        "Probe latency under load on examples/mysite: app load wrk -t1 -c{} -d{}s after a {}s \
         warm-up; GET {} on the probe port, each every {} ms on a new connection \
         (Connection: close, as the kubelet), {} ms deadline; {}{rounds}",
        args.load_connections,
        args.duration,
        args.warmup,
        PROBE_PATHS.join(" and GET "),
        args.probe_interval_ms,
        args.probe_timeout_ms,
        pin.description
    );
    println!("{}", super::machine_line(venvs.bench));
    if let Some(v) = venvs.django_hurricane {
        println!("{}", django_hurricane_line(v));
    }
    println!(
        "note: hurricane answers from Python check results it refreshes every second in the \
         background, at any probe interval; `--probe-interval-ms 600 -d 60` probes at the \
         kubelet's pace"
    );
    println!();
    println!(
        "| load | server | app req/s | app errors | probe | p50 ms | p99 ms | max ms | answers \
         | timeouts | errors | p99 vs django-hurricane |"
    );
    println!("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |");

    let stats = |server: ProbeServer, load: Load, path: &str| -> Option<Stats> {
        let run = runs.iter().find(|r| r.server == server)?;
        let m = run.outcome.as_ref().ok()?.get(&load)?;
        Some(Stats::of(m.samples.get(path)?))
    };
    let mut verdicts = Vec::new();
    for &load in &args.probe_loads {
        let what = load.describe(args.load_connections);
        for run in runs {
            let name = run.server.name();
            let m = match &run.outcome {
                Ok(by_load) => by_load.get(&load),
                Err(_) => None,
            };
            let Some(m) = m else {
                println!("| {what} | {name} | failed | - | - | - | - | - | - | - | - | - |");
                continue;
            };
            // No wrk run (idle): no app figures.
            let (rps, app_errors) = if m.rps.is_empty() {
                ("-".to_string(), "-".to_string())
            } else {
                (
                    format!("{:.0}", median(m.rps.iter().copied())),
                    m.app_errors.to_string(),
                )
            };
            for path in PROBE_PATHS {
                let Some(s) = stats(run.server, load, path) else {
                    continue;
                };
                let peer = stats(ProbeServer::DjangoHurricane, load, path);
                let vs = match (s.p99_ms, peer.as_ref().and_then(|p| p.p99_ms)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                    _ => "n/a".to_string(),
                };
                println!(
                    "| {what} | {name} | {rps} | {app_errors} | {path} | {} | {} | {} | {} | {} | {} \
                     | {vs} |",
                    fmt_ms(s.p50_ms),
                    fmt_ms(s.p99_ms),
                    fmt_ms(s.max_ms),
                    s.answers(),
                    s.timeouts,
                    s.errors,
                );
                if let Some(e) = &s.first_error {
                    verdicts.push(format!(
                        "WARN {name} GET {path} under {what}: {} probes failed, first: {e}",
                        s.errors
                    ));
                }
                if run.server == ProbeServer::Hurricane {
                    verdicts.push(verdict(&what, path, &s, peer.as_ref()));
                }
            }
        }
    }
    println!();
    if !args.probe_servers.contains(&ProbeServer::Hurricane) {
        println!("target: not checked (hurricane was not measured)");
    }
    for v in verdicts {
        println!("{v}");
    }
}

/// "PASS hurricane GET /alive p99 < 10 ms under GET /hello c64: 1.20 ms
/// (django-hurricane 45.10 ms, 37.6x lower)" ("... higher" when slower).
fn verdict(what: &str, path: &str, s: &Stats, peer: Option<&Stats>) -> String {
    let Some(p99) = s.p99_ms else {
        return format!("FAIL hurricane GET {path} under {what}: no probe was answered");
    };
    let mut line = String::new();
    let ok = p99 < TARGET_P99_MS && s.timeouts == 0 && s.errors == 0;
    let _ = write!(
        line,
        "{} hurricane GET {path} p99 < {TARGET_P99_MS} ms under {what}: {p99:.2} ms",
        if ok { "PASS" } else { "FAIL" }
    );
    if s.timeouts + s.errors > 0 {
        let _ = write!(
            line,
            ", {} of {} probes unanswered",
            s.timeouts + s.errors,
            s.probes
        );
    }
    match peer.and_then(|p| p.p99_ms) {
        Some(b) if p99 > 0.0 && b >= p99 => {
            let _ = write!(line, " (django-hurricane {b:.2} ms, {:.1}x lower)", b / p99);
        }
        Some(b) if b > 0.0 => {
            let _ = write!(
                line,
                " (django-hurricane {b:.2} ms, {:.1}x higher)",
                p99 / b
            );
        }
        _ => line.push_str(" (django-hurricane not measured)"),
    }
    line
}

/// "peer: django-hurricane 1.6.2, Tornado 6.6.1" — best effort.
fn django_hurricane_line(venv: &Venv) -> String {
    let versions = Cmd::new(venv.python())
        .args([
            "-c",
            "from importlib.metadata import version as v; \
             print(v('django-hurricane'), v('tornado'))",
        ])
        .read();
    match versions {
        Ok(s) => {
            let mut it = s.split_whitespace();
            match (it.next(), it.next()) {
                (Some(dh), Some(t)) => format!("peer: django-hurricane {dh}, Tornado {t}"),
                _ => "peer: django-hurricane (version unknown)".to_string(),
            }
        }
        Err(_) => "peer: django-hurricane (version unknown)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(p99: f64, timeouts: usize) -> Stats {
        Stats {
            probes: 100,
            p50_ms: Some(1.0),
            p99_ms: Some(p99),
            max_ms: Some(p99),
            statuses: BTreeMap::from([(200, 100 - timeouts)]),
            timeouts,
            errors: 0,
            first_error: None,
        }
    }

    #[test]
    fn verdict_passes_under_the_target_with_the_ratio() {
        let line = verdict(
            "GET /hello c64",
            "/alive",
            &stats(2.0, 0),
            Some(&stats(50.0, 0)),
        );
        assert!(
            line.starts_with("PASS hurricane GET /alive p99 < 10 ms"),
            "{line}"
        );
        assert!(
            line.ends_with("(django-hurricane 50.00 ms, 25.0x lower)"),
            "{line}"
        );
    }

    #[test]
    fn verdict_says_when_hurricane_is_slower() {
        let line = verdict(
            "GET /hello c64",
            "/alive",
            &stats(300.0, 0),
            Some(&stats(150.0, 0)),
        );
        assert!(line.starts_with("FAIL"), "{line}");
        assert!(
            line.ends_with("(django-hurricane 150.00 ms, 2.0x higher)"),
            "{line}"
        );
    }

    #[test]
    fn verdict_fails_over_the_target_or_with_unanswered_probes() {
        assert!(verdict("idle", "/alive", &stats(10.0, 0), None).starts_with("FAIL"));
        let line = verdict("idle", "/ready", &stats(1.0, 3), None);
        assert!(line.starts_with("FAIL"), "{line}");
        assert!(line.contains("3 of 100 probes unanswered"), "{line}");
        assert!(line.ends_with("(django-hurricane not measured)"), "{line}");
    }

    #[test]
    fn loads_name_their_path() {
        assert_eq!(Load::Hello.describe(64), "GET /hello c64");
        assert_eq!(Load::Sleep.describe(8), "GET /sleep?ms=100 c8");
        assert_eq!(Load::Idle.describe(64), "idle");
    }
}
