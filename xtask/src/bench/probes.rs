//! The probe-latency scenario (README.md, "probes"): hurricane and
//! django-hurricane serve the example project one after another, each with
//! its default flags; while wrk loads the app port (`--loads`), two
//! kubelet-like probers (see `prober`) time `GET /alive` and `GET /ready` on
//! the probe port. The target is a probe p99 under 10 ms for hurricane.
//!
//! Why these loads: `hello` keeps the one Python thread that computes
//! holding the GIL, so anything a probe needs from Python waits for it;
//! `sleep` (`/sleep?ms=100`, more connections than Python threads) leaves
//! the GIL mostly free but every thread busy and requests queued, where a
//! server that answers probes from its request pool stops answering them
//! (readiness is expected to fail there: what counts is how fast it says
//! so); `spin` is both at once; `idle` is the baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, sleep};
use std::time::Duration;

use clap::{Parser, ValueEnum};

use super::http::loopback;
use super::prober::{probe_until, Sample, Stats};
use super::scenario::{self, find, Needs, Plan, Scenario, ServerRuns, Table};
use super::server::{self, Ports, Server};
use super::{median, times, versions, wrk, BenchServer, Ctx};
use crate::cmd::Hint;
use crate::error::{bail, Error, Result};

/// The probes timed, both on the probe port (both servers' default paths).
pub const PROBE_PATHS: [&str; 2] = ["/alive", "/ready"];

/// The target for hurricane's probe p99.
const TARGET_P99_MS: f64 = 10.0;

/// What hurricane's build must have for this scenario.
const NEEDS: Needs = Some(("probe", "serves no probes"));

#[derive(Parser)]
pub struct Args {
    /// Servers measured, in order (comma separated).
    #[arg(
        long,
        alias = "probe-servers",
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,django-hurricane"
    )]
    pub servers: Vec<ProbeServer>,
    /// App loads, in order (comma separated): hello (CPU-bound, GIL
    /// saturated), sleep (/sleep?ms=100: every Python thread busy), spin
    /// (/spin?ms=100: busy and GIL-bound), idle (no load).
    #[arg(
        long,
        alias = "probe-loads",
        value_enum,
        value_delimiter = ',',
        default_value = "hello,sleep"
    )]
    loads: Vec<Load>,
    /// wrk connections of the app load: more than hurricane's 48 Python
    /// threads, so that the sleep load queues requests.
    #[arg(long, default_value_t = 128)]
    load_connections: u32,
    /// Milliseconds between two probes of one path (each on a new connection).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    probe_interval_ms: u64,
    /// Deadline of one probe in milliseconds (the kubelet's default is 1 s).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    probe_timeout_ms: u64,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProbeServer {
    Hurricane,
    DjangoHurricane,
}

impl BenchServer for ProbeServer {
    const HURRICANE: Self = ProbeServer::Hurricane;
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

/// Everything measured for one server under one load, over all rounds.
#[derive(Default)]
struct Measured {
    /// wrk's req/s of each round.
    rps: Vec<f64>,
    /// wrk's failed requests, summed.
    app_errors: u64,
    /// Probe samples of every round, per path of [`PROBE_PATHS`].
    samples: [Vec<Sample>; 2],
}

type ByLoad = BTreeMap<Load, Measured>;

struct Probes<'a> {
    args: &'a Args,
    ctx: &'a Ctx,
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<()> {
    let plan = Plan::new("probes", &args.servers, NEEDS, "probes", "/hello");
    scenario::run(&Probes { args, ctx }, plan, ctx)
}

impl Scenario for Probes<'_> {
    type Server = ProbeServer;
    type Measured = ByLoad;

    fn command(&self, server: ProbeServer, ports: Ports) -> Result<Command> {
        let cpus = self.ctx.pin.server.as_deref();
        let (app, probe) = (ports.app.to_string(), ports.probe.to_string());
        if server == ProbeServer::Hurricane {
            let venv = &self.ctx.venv;
            return Ok(server::hurricane(venv, cpus, &[], ports.app, &probe));
        }
        let Some(venv) = &self.ctx.django_hurricane else {
            bail!("internal error: the django-hurricane venv was not set up");
        };
        // `serve` has no address option: it listens on every interface.
        let mut c = server::in_project(venv, cpus, venv.python());
        c.args(["manage.py", "serve"])
            .args(["--settings", server::MANAGE_PY_SERVE_SETTINGS])
            .args(["--port", &app, "--probe-port", &probe])
            // Its log lines reach the log file as they are written.
            .env("PYTHONUNBUFFERED", "1");
        Ok(c)
    }

    /// The probes must pass once the app answers; then each load in turn.
    fn measure(&self, srv: &mut Server, _: ProbeServer, by_load: &mut ByLoad) -> Result<()> {
        let probe_port = srv.ports.probe;
        srv.wait_ready(probe_port, PROBE_PATHS[0], Duration::from_secs(15))
            .hint(
                "if nothing listens on the probe port although the app port answers, this \
                 build ignores or lacks --probe-port; measure django-hurricane alone with \
                 `--servers django-hurricane`",
            )?;
        for (i, &load) in self.args.loads.iter().enumerate() {
            if i > 0 {
                // Let the queue of the previous load drain.
                sleep(Duration::from_secs(1));
            }
            self.measure_load(srv, load, by_load.entry(load).or_default())?;
        }
        Ok(())
    }

    fn report(&self, runs: &[ServerRuns<ProbeServer, ByLoad>]) -> Table {
        let mut t = Table::new(
            self.heading(),
            "load | server | >app req/s | >app errors | probe | >p50 ms | >p99 ms | >max ms \
             | answers | >timeouts | >errors | >p99 vs django-hurricane",
        );
        if !self.args.servers.contains(&ProbeServer::Hurricane) {
            t.after
                .push("target: not checked (hurricane was not measured)".to_string());
        }
        for &load in &self.args.loads {
            for run in runs {
                self.rows(&mut t, runs, run, load);
            }
        }
        t
    }
}

impl Probes<'_> {
    /// What was measured, on what, against which peer.
    fn heading(&self) -> Vec<String> {
        let (args, common) = (self.args, &self.ctx.common);
        let rounds = common.rounds_note("{n} rounds pooled (req/s: median)");
        let mut heading = vec![format!(
            "Probe latency under load on examples/mysite: app load wrk -t1 -c{} -d{}s after a {}s \
             warm-up; GET {} on the probe port, each every {} ms on a new connection \
             (Connection: close, as the kubelet), {} ms deadline; {}{rounds}",
            args.load_connections,
            common.duration,
            common.warmup,
            PROBE_PATHS.join(" and GET "),
            args.probe_interval_ms,
            args.probe_timeout_ms,
            self.ctx.pin.description
        )];
        if let Some(v) = &self.ctx.django_hurricane {
            heading.push(
                match versions(v, &["django-hurricane", "tornado"]).as_deref() {
                    Some([_, dh, t]) => format!("peer: django-hurricane {dh}, Tornado {t}"),
                    _ => "peer: django-hurricane (version unknown)".to_string(),
                },
            );
        }
        heading.push(
            "note: hurricane answers from Python check results it refreshes every second in the \
             background, at any probe interval; `--probe-interval-ms 600 -d 60` probes at the \
             kubelet's pace"
                .to_string(),
        );
        heading
    }

    /// The rows of one server under one load (one per probe path), and the
    /// warnings and PASS/FAIL lines they call for.
    fn rows(
        &self,
        t: &mut Table,
        runs: &[ServerRuns<ProbeServer, ByLoad>],
        run: &ServerRuns<ProbeServer, ByLoad>,
        load: Load,
    ) {
        let what = load.describe(self.args.load_connections);
        let name = run.server.name();
        let Some(m) = run.measured().and_then(|by_load| by_load.get(&load)) else {
            return t.failed(&[&what, &name]);
        };
        // No wrk run (idle): no app figures.
        let (rps, app_errors) = match m.rps.is_empty() {
            true => ("-".to_string(), "-".to_string()),
            false => (
                format!("{:.0}", median(m.rps.iter().copied())),
                m.app_errors.to_string(),
            ),
        };
        let peer = find(runs, ProbeServer::DjangoHurricane).and_then(|by_load| by_load.get(&load));
        for (i, path) in PROBE_PATHS.iter().enumerate() {
            let s = Stats::of(&m.samples[i]);
            let peer = peer.map(|p| Stats::of(&p.samples[i]));
            let vs = match s.p99_ms {
                Some(a) => times(a, peer.as_ref().and_then(|p| p.p99_ms)),
                None => "n/a".to_string(),
            };
            t.row(&[
                &what,
                &name,
                &rps,
                &app_errors,
                path,
                &fmt_ms(s.p50_ms),
                &fmt_ms(s.p99_ms),
                &fmt_ms(s.max_ms),
                &s.answers(),
                &s.timeouts,
                &s.errors,
                &vs,
            ]);
            if let Some(e) = &s.first_error {
                t.after.push(format!(
                    "WARN {name} GET {path} under {what}: {} probes failed, first: {e}",
                    s.errors
                ));
            }
            if run.server == ProbeServer::Hurricane {
                t.after.push(verdict(&what, path, &s, peer.as_ref()));
            }
        }
    }

    /// One load: wrk on the app (none when idle) while a prober per probe path runs.
    fn measure_load(&self, srv: &mut Server, load: Load, into: &mut Measured) -> Result<()> {
        let (args, ctx) = (self.args, self.ctx);
        let (name, conns) = (srv.name.clone(), args.load_connections);
        let url = load.path().map(|p| srv.url(p));
        if let Some(url) = &url {
            wrk::warm_up(&name, url, conns, ctx)?;
        }
        let seconds = ctx.common.duration;
        let what = load.describe(conns);
        println!("xtask bench: {name} probes under {what} for {seconds}s");
        let interval = Duration::from_millis(args.probe_interval_ms);
        let timeout = Duration::from_millis(args.probe_timeout_ms);
        let (addr, stop) = (loopback(srv.ports.probe), AtomicBool::new(false));
        let (app, samples) = thread::scope(|s| {
            let probers = PROBE_PATHS
                .map(|path| s.spawn(|| probe_until(&stop, addr, path, interval, timeout)));
            let app = match &url {
                Some(url) => wrk::run(url, conns, seconds, ctx.pin.load.as_deref()).map(Some),
                None => {
                    sleep(Duration::from_secs(seconds));
                    Ok(None)
                }
            };
            // Stop the probers whatever wrk did.
            stop.store(true, Ordering::Relaxed);
            (app, probers.map(|p| p.join()))
        });
        let app = app?;
        srv.ensure_running("during the measurement")?;
        if let Some(r) = app {
            if r.requests == 0 {
                bail!("wrk completed no request against {name} under {load:?} load");
            }
            into.rps.push(r.requests_per_sec);
            into.app_errors += r.errors;
        }
        for (list, more) in into.samples.iter_mut().zip(samples) {
            list.extend(more.map_err(|_| Error::new("a prober thread panicked"))?);
        }
        Ok(())
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

/// "PASS hurricane GET /alive p99 < 10 ms under GET /hello c64: 1.20 ms
/// (django-hurricane 45.10 ms, 37.6x lower)" ("... higher" when slower).
fn verdict(what: &str, path: &str, s: &Stats, peer: Option<&Stats>) -> String {
    let Some(p99) = s.p99_ms else {
        return format!("FAIL hurricane GET {path} under {what}: no probe was answered");
    };
    let ok = p99 < TARGET_P99_MS && s.timeouts == 0 && s.errors == 0;
    let mut line = super::verdict(
        ok,
        &format!("hurricane GET {path} p99 < {TARGET_P99_MS} ms under {what}: {p99:.2} ms"),
    );
    if s.timeouts + s.errors > 0 {
        let _ = write!(
            line,
            ", {} of {} probes unanswered",
            s.timeouts + s.errors,
            s.probes
        );
    }
    line.push_str(&super::compared(
        "django-hurricane",
        p99,
        peer.and_then(|p| p.p99_ms),
        2,
        "lower",
        "higher",
    ));
    line
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
    fn verdict_gives_the_ratio_to_django_hurricane_either_way() {
        let load = "GET /hello c64";
        let faster = verdict(load, "/alive", &stats(2.0, 0), Some(&stats(50.0, 0)));
        assert_eq!(
            faster,
            "PASS hurricane GET /alive p99 < 10 ms under GET /hello c64: 2.00 ms \
             (django-hurricane 50.00 ms, 25.0x lower)"
        );
        let slower = verdict(load, "/alive", &stats(300.0, 0), Some(&stats(150.0, 0)));
        assert!(slower.starts_with("FAIL"), "{slower}");
        assert!(
            slower.ends_with("(django-hurricane 150.00 ms, 2.0x higher)"),
            "{slower}"
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
