//! `cargo xtask bench`: four scenarios, all on by default.
//!
//! `hello` (see `hello.rs`): hurricane, granian (WSGI, 1 worker; its
//! defaults and its best configuration for each workload) and gunicorn (sync,
//! 1 worker) serving two views of the example project one after another, each
//! measured with wrk: `/hello` (CPU-bound) and `/sleep?ms=10` (waits outside
//! the GIL); plus Django's in-process rate.
//!
//! `probes` (see `probes.rs`): hurricane's and django-hurricane's liveness
//! and readiness probe latency while wrk saturates the app.
//!
//! `static` (see `static_files.rs`): a small stylesheet and a 100 KB file
//! from `STATIC_ROOT` through hurricane's `--static`, nginx (one worker) and
//! whitenoise under gunicorn, measured with wrk.
//!
//! `reload` (see `reload.rs`): the time from saving a view of a copy of the
//! example project to the first response with the new code, for `hurricane
//! serve --autoreload` and Django's `runserver` (about 50 s in all).
//!
//! CPU placement: by default the OS schedules servers and wrk freely over all
//! CPUs, as in a pod, so a server whose network I/O runs beside Python (as
//! hurricane's and granian's do) can use the second core. `--pin` (when
//! `taskset` exists and there are at least two CPUs) instead runs each server
//! and the in-process loop on every CPU but the last and wrk on the last one:
//! more repeatable, but it measures one-core servers.

mod hello;
mod inprocess;
mod prober;
mod probes;
mod reload;
mod server;
mod static_files;
mod wrk;

use std::ffi::OsStr;
use std::fs;

use clap::ValueEnum;

use crate::cmd::{which, Cmd};
use crate::error::{bail, Context, Result};
use crate::venv::Venv;
use crate::{demo, paths, venv};

use probes::{Load, ProbeServer};
use reload::ReloadServer;
use static_files::StaticServer;

#[derive(clap::Args)]
pub struct Args {
    /// Scenarios to run, in order (comma separated): `hello` (req/s of a
    /// CPU-bound and an I/O-bound view against granian and gunicorn), `probes` (probe latency under
    /// load against django-hurricane), `static` (req/s of two static files
    /// against nginx and whitenoise), `reload` (save-to-new-answer time of
    /// `serve --autoreload` against Django's runserver).
    #[arg(
        long,
        alias = "scenario",
        value_enum,
        value_delimiter = ',',
        default_value = "hello,probes,static,reload"
    )]
    scenarios: Vec<Scenario>,
    /// Workloads of the hello scenario, in order (comma separated): cpu
    /// (`--path`, CPU-bound, `-c` connections), io (`--io-path`, waits
    /// outside the GIL, `--io-connections`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,io")]
    workloads: Vec<hello::Workload>,
    /// wrk connections (-c) of the hello scenario's cpu workload.
    #[arg(short = 'c', long, default_value_t = 16)]
    connections: u32,
    /// wrk connections of the hello scenario's io workload.
    #[arg(long, default_value_t = 64)]
    io_connections: u32,
    /// Seconds of each measured wrk run (-d); "10" or "10s".
    #[arg(short = 'd', long, default_value = "10", value_parser = parse_secs)]
    duration: u64,
    /// Seconds of the unmeasured warm-up run before each measurement.
    #[arg(long, default_value = "2", value_parser = parse_secs)]
    warmup: u64,
    /// Seconds of Django's in-process loop.
    #[arg(long, default_value = "5", value_parser = parse_secs)]
    inprocess_seconds: u64,
    /// Servers the hello scenario measures, in order (comma separated):
    /// granian-st (`--blocking-threads 1 --runtime-mode st`) is granian's best
    /// configuration for CPU-bound views, granian-bt32 (`--blocking-threads
    /// 32`) its best for views that wait on I/O, granian its defaults.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,granian-st,granian-bt32,granian,gunicorn"
    )]
    servers: Vec<Peer>,
    /// URL path of the hello scenario's cpu workload.
    #[arg(long, default_value = "/hello")]
    path: String,
    /// URL path of the hello scenario's io workload: a view that sleeps 10 ms.
    #[arg(long, default_value = "/sleep?ms=10")]
    io_path: String,
    /// Servers the probes scenario measures, in order (comma separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,django-hurricane"
    )]
    probe_servers: Vec<ProbeServer>,
    /// App loads of the probes scenario, in order (comma separated): hello
    /// (CPU-bound, GIL saturated), sleep (/sleep?ms=100: every Python thread
    /// busy), spin (/spin?ms=100: busy and GIL-bound), idle (no load).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "hello,sleep")]
    probe_loads: Vec<Load>,
    /// wrk connections of the probes scenario's app load: more than
    /// hurricane's 48 Python threads, so that the sleep load queues requests.
    #[arg(long, default_value_t = 128)]
    load_connections: u32,
    /// Servers the static scenario measures, in order (comma separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,nginx,whitenoise"
    )]
    static_servers: Vec<StaticServer>,
    /// wrk connections of the static scenario.
    #[arg(long, default_value_t = 32)]
    static_connections: u32,
    /// Servers the reload scenario measures, in order (comma separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hurricane,runserver"
    )]
    reload_servers: Vec<ReloadServer>,
    /// Edits of the view (each one reload) per server in the reload scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reload_edits: u32,
    /// Milliseconds between two probes of one path (each on a new connection).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    probe_interval_ms: u64,
    /// Deadline of one probe in milliseconds (the kubelet's default is 1 s).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    probe_timeout_ms: u64,
    /// Repeat the whole sequence this many times and report medians (the
    /// probes scenario pools the probe samples of every round).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    /// Pin servers and wrk to separate CPUs with taskset.
    #[arg(long)]
    pin: bool,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scenario {
    Hello,
    Probes,
    Static,
    Reload,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    Hurricane,
    Gunicorn,
    Granian,
    /// granian's best configuration for CPU-bound views: one blocking thread on a
    /// single-threaded runtime (no GIL hand-offs).
    GranianSt,
    /// granian's best configuration for views that wait on I/O: 32 blocking threads.
    GranianBt32,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Hurricane => "hurricane",
            Peer::Gunicorn => "gunicorn",
            Peer::Granian => "granian",
            Peer::GranianSt => "granian-st",
            Peer::GranianBt32 => "granian-bt32",
        }
    }

    /// How each server is started: its defaults plus the loopback address.
    fn command(self, venv: &Venv, port: u16, cpus: Option<&str>) -> Cmd {
        let port_s = port.to_string();
        let mut cmd = match self {
            Peer::Hurricane => {
                let mut c = pinned(cpus, paths::hurricane_bin());
                c.args(["serve", "--host", "127.0.0.1", "--port", &port_s]);
                // Probes on a port the OS picks: port + 1 may be taken.
                c.args(["--probe-port", "0"]);
                c
            }
            Peer::Gunicorn => {
                let mut c = pinned(cpus, venv.bin("gunicorn"));
                c.args(["-w", "1", "-b", &format!("127.0.0.1:{port}"), "mysite.wsgi"]);
                c
            }
            Peer::Granian | Peer::GranianSt | Peer::GranianBt32 => {
                let mut c = pinned(cpus, venv.bin("granian"));
                c.args(["--interface", "wsgi", "--workers", "1"]);
                match self {
                    Peer::GranianSt => {
                        c.args(["--blocking-threads", "1", "--runtime-mode", "st"]);
                    }
                    Peer::GranianBt32 => {
                        c.args(["--blocking-threads", "32"]);
                    }
                    _ => {}
                }
                c.args(["--host", "127.0.0.1", "--port", &port_s])
                    .arg("mysite.wsgi:application");
                c
            }
        };
        venv.activate(&mut cmd);
        cmd.dir(paths::example_project());
        cmd
    }
}

impl BenchServer for Peer {
    const HURRICANE: Self = Peer::Hurricane;
    fn name(self) -> &'static str {
        Peer::name(self)
    }
}

/// A server a scenario compares.
pub trait BenchServer: Copy + PartialEq {
    /// hurricane itself, whose build is checked before it is measured.
    const HURRICANE: Self;
    fn name(self) -> &'static str;
}

/// One server of a scenario: what its rounds measured, or why it could not be measured.
pub struct ServerRuns<S, T> {
    pub server: S,
    pub outcome: Result<T, String>,
}

/// What hurricane's build must have for a scenario (see [`check_hurricane_has`]).
pub struct NeedsOption {
    pub option: &'static str,
    pub missing: &'static str,
    pub peers_only: &'static str,
}

/// Measures every server in every round, in order, with `measure` adding to what the
/// server's earlier rounds measured (`initial` at first). A server that fails is
/// reported and not measured again; `what` names the measure in messages.
pub fn measure_rounds<S: BenchServer, T>(
    what: &str,
    servers: &[S],
    rounds: u32,
    needs: &NeedsOption,
    initial: impl Fn() -> T,
    mut measure: impl FnMut(S, &mut T) -> Result<()>,
) -> Vec<ServerRuns<S, T>> {
    let mut runs: Vec<ServerRuns<S, T>> = servers
        .iter()
        .map(|&server| {
            let checked = if server == S::HURRICANE {
                check_hurricane_has(needs.option, needs.missing, needs.peers_only)
            } else {
                Ok(())
            };
            let outcome = checked.map(|()| initial()).map_err(|e| {
                eprintln!("xtask bench: {} {what} FAILED: {e}", server.name());
                e.to_string()
            });
            ServerRuns { server, outcome }
        })
        .collect();
    for round in 1..=rounds {
        if rounds > 1 {
            println!("xtask bench: {what} round {round}/{rounds}");
        }
        for run in runs.iter_mut() {
            let Ok(measured) = &mut run.outcome else {
                continue;
            };
            if let Err(e) = measure(run.server, measured) {
                eprintln!("xtask bench: {} {what} FAILED: {e}", run.server.name());
                run.outcome = Err(e.to_string());
            }
        }
    }
    runs
}

/// Fails naming the servers that could not be measured.
pub fn all_measured<S: BenchServer, T>(what: &str, runs: &[ServerRuns<S, T>]) -> Result<()> {
    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.server.name())
        .collect();
    if !failed.is_empty() {
        bail!(
            "could not measure the {what} of: {} (see above)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Fails, naming what is missing, when the hurricane binary has no `option`
/// (a build from before the feature a scenario measures), instead of letting
/// it fail on an unknown argument; `peers_only` is the command that measures
/// the peers alone.
fn check_hurricane_has(option: &str, missing: &str, peers_only: &str) -> Result<()> {
    let bin = paths::hurricane_bin();
    let help = Cmd::new(&bin)
        .args(["serve", "--help"])
        .hint("build it with `cargo build --release -p hurricane-cli`")
        .read()?;
    if !help.contains(option) {
        bail!(
            "{} has no `{option}` option: this build {missing}\n  \
             hint: rebuild, or measure the peers alone: `{peers_only}`",
            bin.display()
        );
    }
    Ok(())
}

/// `program`, under `taskset -c <cpus>` when pinning.
pub fn pinned(cpus: Option<&str>, program: impl AsRef<OsStr>) -> Cmd {
    match cpus {
        Some(cpus) => {
            let mut cmd = Cmd::new("taskset");
            cmd.args(["-c", cpus]).arg(program);
            cmd
        }
        None => Cmd::new(program),
    }
}

fn parse_secs(s: &str) -> Result<u64, String> {
    let n = s.strip_suffix('s').unwrap_or(s);
    match n.parse::<u64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!(
            "expected a whole number of seconds like 10 or 10s, got {s:?}"
        )),
    }
}

pub(super) struct Pinning {
    pub(super) server: Option<String>,
    pub(super) load: Option<String>,
    pub(super) description: String,
}

fn pinning(pin: bool) -> Pinning {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let unpinned = |why: &str| Pinning {
        server: None,
        load: None,
        description: format!("not pinned ({why}); {cpus} CPUs shared by server and wrk"),
    };
    if !pin {
        return unpinned("no --pin");
    }
    if which("taskset").is_none() {
        return unpinned("taskset not found");
    }
    if cpus < 2 {
        return unpinned("only one CPU");
    }
    let last = cpus - 1;
    let server = if last == 1 {
        "0".to_string()
    } else {
        format!("0-{}", last - 1)
    };
    Pinning {
        description: format!("taskset: server on CPU {server}, wrk on CPU {last}"),
        server: Some(server),
        load: Some(last.to_string()),
    }
}

pub fn run(args: Args) -> Result<()> {
    let hello = args.scenarios.contains(&Scenario::Hello);
    let probes = args.scenarios.contains(&Scenario::Probes);
    let statics = args.scenarios.contains(&Scenario::Static);
    let reload = args.scenarios.contains(&Scenario::Reload);
    let django_hurricane = probes && args.probe_servers.contains(&ProbeServer::DjangoHurricane);
    if (hello && args.servers.contains(&Peer::Hurricane))
        || (probes && args.probe_servers.contains(&ProbeServer::Hurricane))
        || (statics && args.static_servers.contains(&StaticServer::Hurricane))
        || (reload && args.reload_servers.contains(&ReloadServer::Hurricane))
    {
        demo::build_release()?;
    }
    if hello || probes || statics {
        wrk::ensure_installed()?;
    }
    let nginx = if statics && args.static_servers.contains(&StaticServer::Nginx) {
        Some(crate::debian::ensure_program("nginx", "nginx")?)
    } else {
        None
    };
    let venv = venv::ensure("bench.txt")?;
    let dh_venv = if django_hurricane {
        Some(venv::ensure(venv::DJANGO_HURRICANE)?)
    } else {
        None
    };
    let project = paths::example_project();
    demo::migrate(&venv, &project)?;
    let logs = paths::target().join("bench");
    fs::create_dir_all(&logs).context(|| format!("could not create {}", logs.display()))?;

    let pin = pinning(args.pin);
    println!("xtask bench: {}", pin.description);

    let mut failures = Vec::new();
    for scenario in &args.scenarios {
        let outcome = match scenario {
            Scenario::Hello => hello::run(&args, &venv, &pin, &logs),
            Scenario::Probes => {
                let venvs = probes::Venvs {
                    bench: &venv,
                    django_hurricane: dh_venv.as_ref(),
                };
                probes::run(&args, &venvs, &pin, &logs)
            }
            Scenario::Static => {
                let setup = static_files::Setup {
                    venv: &venv,
                    nginx: nginx.as_deref(),
                };
                static_files::run(&args, &setup, &pin, &logs)
            }
            Scenario::Reload => reload::run(&args, &venv, &logs),
        };
        if let Err(e) = outcome {
            failures.push(e.to_string());
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

pub(super) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Median req/s and median p99 over the rounds; requests and errors summed.
pub(super) fn median_report(list: &[wrk::Report]) -> wrk::Report {
    wrk::Report {
        requests_per_sec: median(list.iter().map(|r| r.requests_per_sec)),
        p99_ms: median(list.iter().map(|r| r.p99_ms)),
        requests: list.iter().map(|r| r.requests).sum(),
        errors: list.iter().map(|r| r.errors).sum(),
    }
}

pub(super) fn verdict(ok: bool, what: &str) {
    println!("{} {what}", if ok { "PASS" } else { "FAIL" });
}

/// "machine: 2 CPUs (AMD EPYC); Python 3.11.7" — best effort.
pub(super) fn machine_line(venv: &Venv) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let python = Cmd::new(venv.python())
        .args([
            "-c",
            "import sys, django; print(sys.version.split()[0], django.get_version())",
        ])
        .read()
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace();
            Some(format!("Python {}, Django {}", it.next()?, it.next()?))
        })
        .unwrap_or_else(|| "Python version unknown".to_string());
    format!("machine: {cpus} CPUs ({model}); {python}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
    }

    #[test]
    fn seconds_accept_a_trailing_s() {
        assert_eq!(parse_secs("10"), Ok(10));
        assert_eq!(parse_secs("10s"), Ok(10));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("ten").is_err());
    }
}
