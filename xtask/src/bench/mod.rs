//! `cargo xtask bench [hello|probes|static|reload]`: one scenario, or all four
//! in that order when none is named; README.md ("Benchmarks") says what each
//! measures. Each scenario is a module; `scenario` is the one routine they
//! all go through (start each server, measure it round after round, print one
//! table), `http` the one HTTP client, `server` starts and stops the
//! processes, `wrk` drives wrk.
//!
//! By default servers and wrk share every CPU, as in a pod, so that a server
//! whose network I/O runs beside Python (hurricane's, granian's) can use the
//! second core; `--pin` is more repeatable but measures one-core servers.

mod hello;
mod http;
mod prober;
mod probes;
mod reload;
mod scenario;
mod server;
mod static_files;
mod wrk;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd::{which, Run};
use crate::error::{bail, Context, Result};
use crate::venv::Venv;
use crate::{demo, paths, venv, wheel};

#[derive(clap::Args)]
#[command(
    subcommand_value_name = "SCENARIO",
    subcommand_help_heading = "Scenarios"
)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// The scenario to run; all four, in this order, when none is named.
    #[command(subcommand)]
    scenario: Option<ScenarioArgs>,
}

/// Flags every scenario takes (before or after the scenario's name).
#[derive(clap::Args, Clone)]
pub struct Common {
    /// Seconds of each measured run (wrk's -d); "10" or "10s".
    #[arg(short = 'd', long, default_value = "10", value_parser = parse_secs, global = true)]
    pub duration: u64,
    /// Seconds of the unmeasured warm-up run before each measurement.
    #[arg(long, default_value = "2", value_parser = parse_secs, global = true)]
    pub warmup: u64,
    /// Repeat each scenario this many times and report medians (the probes and
    /// reload scenarios pool their samples of every round).
    #[arg(long, default_value_t = 1, global = true,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Pin servers and wrk to separate CPUs with taskset.
    #[arg(long, global = true)]
    pub pin: bool,
}

impl Common {
    /// `"; <text>"` for a report's heading when there is more than one round.
    pub fn rounds_note(&self, text: &str) -> String {
        if self.rounds > 1 {
            format!("; {}", text.replace("{n}", &self.rounds.to_string()))
        } else {
            String::new()
        }
    }
}

#[derive(Subcommand)]
enum ScenarioArgs {
    /// req/s of a CPU-bound and an I/O-bound view against granian, gunicorn and uvicorn.
    Hello(hello::Args),
    /// Probe latency under load against django-hurricane.
    Probes(probes::Args),
    /// req/s of two static files against nginx and whitenoise.
    Static(static_files::Args),
    /// Save-to-new-answer time of `serve --autoreload` against runserver.
    Reload(reload::Args),
}

impl ScenarioArgs {
    /// Every scenario with its default flags.
    fn all() -> Vec<ScenarioArgs> {
        vec![
            ScenarioArgs::Hello(hello::Args::parse_from(["hello"])),
            ScenarioArgs::Probes(probes::Args::parse_from(["probes"])),
            ScenarioArgs::Static(static_files::Args::parse_from(["static"])),
            ScenarioArgs::Reload(reload::Args::parse_from(["reload"])),
        ]
    }

    /// The names of the servers it measures.
    fn server_names(&self) -> Vec<String> {
        fn names<S: BenchServer>(servers: &[S]) -> Vec<String> {
            servers.iter().map(|s| s.name()).collect()
        }
        match self {
            ScenarioArgs::Hello(a) => names(&a.servers),
            ScenarioArgs::Probes(a) => names(&a.servers),
            ScenarioArgs::Static(a) => names(&a.servers),
            ScenarioArgs::Reload(a) => names(&a.servers),
        }
    }
}

/// A server a scenario compares, named as on the command line.
pub trait BenchServer: ValueEnum + Copy + PartialEq {
    /// hurricane itself, whose build is checked before it is measured.
    const HURRICANE: Self;

    fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// What every scenario shares: the flags, the venvs, where to pin, where logs go.
pub struct Ctx {
    pub common: Common,
    pub venv: Venv,
    /// django-hurricane's own venv, when the probes scenario measures it.
    pub django_hurricane: Option<Venv>,
    /// A venv with hurricane's Python package, when hello measures `manage.py serve`.
    pub package: Option<Venv>,
    /// nginx's binary, when the static scenario measures it.
    pub nginx: Option<PathBuf>,
    pub pin: Pinning,
    pub logs: PathBuf,
}

impl Ctx {
    /// `"wrk -t1 -c16 -d10s --latency after a 2s warm-up; <pinning>"`, for headings.
    pub fn wrk_note(&self, connections: u32) -> String {
        let Common {
            duration, warmup, ..
        } = self.common;
        let pin = &self.pin.description;
        format!("wrk -t1 -c{connections} -d{duration}s --latency after a {warmup}s warm-up; {pin}")
    }
}

pub fn run(args: Args) -> Result<()> {
    let scenarios = match args.scenario {
        Some(one) => vec![one],
        None => ScenarioArgs::all(),
    };
    let ctx = set_up(args.common, &scenarios)?;
    println!("xtask bench: {}", ctx.pin.description);
    all_ok(scenarios.iter().map(|scenario| match scenario {
        ScenarioArgs::Hello(a) => hello::run(a, &ctx),
        ScenarioArgs::Probes(a) => probes::run(a, &ctx),
        ScenarioArgs::Static(a) => static_files::run(a, &ctx),
        ScenarioArgs::Reload(a) => reload::run(a, &ctx),
    }))
}

/// Runs every one of `outcomes` (they are lazy), then fails with every error.
pub fn all_ok(outcomes: impl Iterator<Item = Result<()>>) -> Result<()> {
    let failures: Vec<String> = outcomes
        .filter_map(|o| o.err())
        .map(|e| e.to_string())
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Builds hurricane and installs wrk, nginx and the venvs the scenarios need.
fn set_up(common: Common, scenarios: &[ScenarioArgs]) -> Result<Ctx> {
    let measures = |name: &str| {
        scenarios
            .iter()
            .any(|s| s.server_names().iter().any(|n| n == name))
    };
    if measures("hurricane") || measures("hurricane-p2") {
        demo::build_release()?;
    }
    if scenarios
        .iter()
        .any(|s| !matches!(s, ScenarioArgs::Reload(_)))
    {
        wrk::ensure_installed()?;
    }
    let nginx = if measures("nginx") {
        Some(crate::debian::ensure_program("nginx", "nginx")?)
    } else {
        None
    };
    let venv = venv::ensure("bench.txt")?;
    let django_hurricane = if measures("django-hurricane") {
        Some(venv::ensure(venv::DJANGO_HURRICANE)?)
    } else {
        None
    };
    let package = if measures("manage.py") {
        let version = wheel::host_version()?;
        let dir = paths::target().join("venv-bench-package");
        Some(wheel::venv_with_package(&version, dir, "example.txt")?)
    } else {
        None
    };
    demo::migrate(&venv, &paths::example_project())?;
    let logs = paths::target().join("bench");
    fs::create_dir_all(&logs).context(|| format!("could not create {}", logs.display()))?;
    Ok(Ctx {
        pin: pinning(common.pin),
        common,
        venv,
        django_hurricane,
        package,
        nginx,
        logs,
    })
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

/// Where servers and wrk run: CPU lists for `taskset -c`, or `None` for anywhere.
pub struct Pinning {
    pub server: Option<String>,
    pub load: Option<String>,
    pub description: String,
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

pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
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

/// "PASS what" or "FAIL what".
pub fn verdict(ok: bool, what: &str) -> String {
    format!("{} {what}", if ok { "PASS" } else { "FAIL" })
}

/// `a` / `b` as "1.23x", or "n/a" without a positive `b`.
pub fn times(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".to_string(),
    }
}

/// " (peer 45.10 ms, 37.6x lower)" when `ours` is at most the peer's `theirs`
/// (`better`), " (... higher)" otherwise (`worse`), " (peer not measured)"
/// without a figure; `decimals` for the milliseconds.
pub fn compared(
    peer: &str,
    ours: f64,
    theirs: Option<f64>,
    decimals: usize,
    better: &str,
    worse: &str,
) -> String {
    match theirs {
        Some(b) if ours > 0.0 && b >= ours => {
            format!(" ({peer} {b:.decimals$} ms, {:.1}x {better})", b / ours)
        }
        Some(b) if b > 0.0 => format!(" ({peer} {b:.decimals$} ms, {:.1}x {worse})", ours / b),
        _ => format!(" ({peer} not measured)"),
    }
}

/// The Python version, then the version of each of `packages`, in `venv`;
/// `None` when it cannot be read (best effort).
pub fn versions(venv: &Venv, packages: &[&str]) -> Option<Vec<String>> {
    let script = "import sys; from importlib.metadata import version as v; \
                  print(sys.version.split()[0], *(v(p) for p in sys.argv[1:]))";
    let out = Command::new(venv.python())
        .args(["-c", script])
        .args(packages)
        .read()
        .ok()?;
    let found: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    (found.len() == packages.len() + 1).then_some(found)
}

/// "machine: 2 CPUs (AMD EPYC); Python 3.11.7, Django 5.2" — best effort.
pub fn machine_line(venv: &Venv) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let python = match versions(venv, &["django"]).as_deref() {
        Some([python, django]) => format!("Python {python}, Django {django}"),
        _ => "Python version unknown".to_string(),
    };
    format!("machine: {cpus} CPUs ({model}); {python}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Bench {
        #[command(flatten)]
        args: Args,
    }

    fn parse(words: &[&str]) -> Args {
        let argv = ["bench"].iter().chain(words);
        Bench::try_parse_from(argv).expect("valid").args
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
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
    fn ratios_against_a_measured_peer_only() {
        assert_eq!(times(300.0, Some(200.0)), "1.50x");
        assert_eq!(times(300.0, Some(0.0)), "n/a");
        assert_eq!(times(300.0, None), "n/a");
    }

    #[test]
    fn seconds_accept_a_trailing_s() {
        assert_eq!(parse_secs("10"), Ok(10));
        assert_eq!(parse_secs("10s"), Ok(10));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("ten").is_err());
    }

    #[test]
    fn no_scenario_runs_all_four_with_their_defaults() {
        let args = parse(&["-d", "3"]);
        assert!(args.scenario.is_none());
        assert_eq!(args.common.duration, 3);
        let names: Vec<Vec<String>> = ScenarioArgs::all()
            .iter()
            .map(ScenarioArgs::server_names)
            .collect();
        assert_eq!(
            names,
            [
                vec![
                    "hurricane",
                    "manage.py",
                    "granian-st",
                    "granian-bt32",
                    "granian",
                    "gunicorn",
                    "hurricane-p2",
                    "granian-w2",
                    "gunicorn-w2",
                    "uvicorn-w2"
                ],
                vec!["hurricane", "django-hurricane"],
                vec!["hurricane", "nginx", "whitenoise"],
                vec!["hurricane", "runserver"],
            ]
        );
    }

    #[test]
    fn common_flags_go_before_or_after_the_scenario() {
        let args = parse(&["--rounds", "2", "hello", "-d", "2", "--warmup", "1"]);
        assert_eq!(
            (args.common.rounds, args.common.duration, args.common.warmup),
            (2, 2, 1)
        );
        let Some(ScenarioArgs::Hello(hello)) = args.scenario else {
            panic!("hello expected");
        };
        assert_eq!(hello.servers.len(), 10);
        let args = parse(&["probes", "--servers", "django-hurricane"]);
        let Some(scenario) = args.scenario else {
            panic!("probes expected");
        };
        assert_eq!(scenario.server_names(), ["django-hurricane"]);
    }
}
