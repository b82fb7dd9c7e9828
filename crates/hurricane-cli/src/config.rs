//! One typed configuration for `hurricane serve`, built and checked in one place from
//! the merged options (command line, environment, Django settings; see
//! [`crate::options`]). Nothing downstream reads [`ServeArgs`] again: seconds are
//! [`Duration`]s, choices are enums, paths and URLs are parsed, and conflicts between
//! options are refused here, whichever source each option came from.

use std::net::SocketAddr;
use std::time::Duration;

use hurricane_core::ServerConfig;
#[cfg(feature = "probe")]
use hurricane_probe::{ProbeConfig, ProbePath, ProbePaths};
use hurricane_wsgi::BridgeOptions;

use crate::cli::{ConcurrencyMode, Processes, ServeArgs};
use crate::files::FileOptions;
use crate::startup::{ManagementCommand, StartupError};

/// Why the options cannot be served as given.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{reload} cannot be combined with a debugger (--debugger, --pycharm-host, or HURRICANE_DEBUGGER / HURRICANE_PYCHARM_HOST in the environment or the Django settings): {reload} restarts the server on every change, which would end the debugging session")]
    ReloadWithDebugger {
        /// The option that reloads: `--autoreload` or `--debug`.
        reload: &'static str,
    },
    #[error("--processes {processes} cannot be combined with {reload}: {reload} runs one server process for development")]
    ProcessesWithReload {
        processes: usize,
        reload: &'static str,
    },
    #[error("--processes needs the probes on a port of their own (the supervisor answers them for the pod): set --probe-port to another port than --port")]
    ProcessesWithProbesOnAppPort,
    #[error("--port {0} leaves no port for the probes; set --probe-port")]
    NoProbePort(u16),
    #[error("--webhook-url {url:?} is not an http:// or https:// URL with a host: {problem}")]
    WebhookUrl { url: String, problem: String },
    #[error(transparent)]
    Command(#[from] StartupError),
    #[error("{option} needs a hurricane built with the cargo feature `{feature}`")]
    NotBuilt {
        option: &'static str,
        feature: &'static str,
    },
}

/// Everything `serve` needs to know, checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: Listen,
    /// Limits and timeouts of the application's server.
    pub server: ServerConfig,
    /// After SIGTERM, how long the application keeps serving with readiness failing.
    pub shutdown_delay: Duration,
    pub python: PythonConfig,
    pub startup: StartupOptions,
    /// `None` with `--no-probe` (and in a build without the feature `probe`).
    #[cfg_attr(not(feature = "probe"), allow(dead_code))]
    pub probes: Option<ProbeOptions>,
    pub webhook_url: Option<http::Uri>,
    pub debuggers: Debuggers,
    #[cfg_attr(not(feature = "processes"), allow(dead_code))]
    pub processes: ProcessConfig,
}

/// `--processes` and what makes the supervisor replace a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessConfig {
    pub count: usize,
    pub max_requests: Option<u64>,
    pub max_requests_jitter: u64,
    pub max_memory_mb: Option<u64>,
    /// `--max-lifetime`: in a pod process, requests served before it asks to be
    /// replaced (without a supervisor, its liveness fails instead).
    pub max_lifetime: Option<u64>,
}

impl ProcessConfig {
    fn new(args: &ServeArgs) -> Self {
        Self {
            count: match args.processes {
                Processes::Count(count) => usize::from(count),
                Processes::Auto => cpu_quota().unwrap_or_else(default_parallelism),
            },
            max_requests: args.max_requests,
            max_requests_jitter: args.max_requests_jitter,
            max_memory_mb: args.max_memory,
            max_lifetime: args.max_lifetime,
        }
    }

    /// Whether a supervisor must run the server processes: several of them, or one
    /// replaced after --max-requests. (--max-memory alone, in one process, is the
    /// liveness probe's, as without a supervisor.)
    pub fn wants_supervisor(&self) -> bool {
        self.count > 1 || self.max_requests.is_some()
    }
}

/// The CPUs of the container's cgroup v2 quota (`cpu.max`, e.g. `150000 100000` is 1.5,
/// rounded up to 2: the quota is enforced over a period, so a second process still
/// uses the half), if there is a quota.
fn cpu_quota() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/cpu.max").ok()?;
    let mut fields = text.split_whitespace();
    let max: u64 = fields.next()?.parse().ok()?; // "max": no quota
    let period: u64 = fields.next()?.parse().ok().filter(|&p| p > 0)?;
    usize::try_from(max.div_ceil(period))
        .ok()
        .filter(|&n| n > 0)
}

fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Where to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub app: SocketAddr,
    pub probes: ProbePlacement,
}

/// Where the probes listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePlacement {
    /// `--no-probe`.
    Off,
    /// `--probe-port` equal to `--port`: on the application's port.
    OnAppPort,
    /// A port of their own (0: one the OS picks); `defaulted` when `--probe-port` was not
    /// given (it is `--port` + 1).
    Port { addr: SocketAddr, defaulted: bool },
}

/// The Python side.
#[derive(Debug, Clone, Copy)]
pub struct PythonConfig {
    pub workers: usize,
    pub concurrency: ConcurrencyMode,
    pub io_threads: usize,
    /// `--timeout`: how long a request may wait for its response to start.
    pub request_timeout: Option<Duration>,
}

/// What start-up does before the application port opens.
#[derive(Debug, Clone)]
pub struct StartupOptions {
    pub run_checks: bool,
    pub commands: Vec<ManagementCommand>,
    pub migrations: Migrations,
    pub bridge: BridgeOptions,
    pub files: FileOptions,
}

/// What to do about unapplied migrations before serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Ignore,
    /// `--check-migrations`: wait until someone else applies them.
    Wait,
    /// `--check-migrations-apply`.
    Apply,
}

/// The probes and metrics.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    #[cfg(feature = "probe")]
    pub config: ProbeConfig,
    /// `--log-probes`.
    #[cfg_attr(not(feature = "probe"), allow(dead_code))]
    pub access_log: bool,
}

/// `--debugger` and `--pycharm-host`.
#[derive(Debug, Clone, Default)]
pub struct Debuggers {
    /// debugpy's port.
    pub debugpy: Option<u16>,
    /// A PyCharm debug server to connect to.
    pub pycharm: Option<(String, u16)>,
}

impl Debuggers {
    fn any(&self) -> bool {
        self.debugpy.is_some() || self.pycharm.is_some()
    }
}

impl ServeConfig {
    /// The configuration `args` describe. `supervised`: this process is a server that
    /// the `--autoreload` supervisor replaces on every change.
    pub fn new(args: &ServeArgs, supervised: bool) -> Result<Self, ConfigError> {
        let debuggers = Debuggers {
            debugpy: args.debugger.then_some(args.debugger_port),
            pycharm: args.pycharm_host.clone().zip(args.pycharm_port),
        };
        if (args.autoreload || args.debug || supervised) && debuggers.any() {
            // Name the option the user gave; a supervised server was started by one.
            let reload = if args.debug && !args.autoreload {
                "--debug"
            } else {
                "--autoreload"
            };
            return Err(ConfigError::ReloadWithDebugger { reload });
        }
        check_built(args)?;
        let processes = ProcessConfig::new(args);
        check_processes(args, &processes)?;
        Ok(Self {
            listen: Listen {
                app: SocketAddr::new(args.host, args.port),
                probes: probe_placement(args)?,
            },
            server: server_config(args),
            shutdown_delay: Duration::from_secs_f64(args.shutdown_delay),
            python: PythonConfig {
                workers: usize::from(args.workers),
                concurrency: args.concurrency,
                io_threads: args.io_threads.map_or_else(default_io_threads, usize::from),
                request_timeout: args.timeout,
            },
            startup: startup_options(args)?,
            probes: (cfg!(feature = "probe") && !args.no_probe).then(|| probe_options(args)),
            webhook_url: args.webhook_url.as_deref().map(webhook_url).transpose()?,
            debuggers,
            processes,
        })
    }

    /// As one of the processes of `--processes`: the supervisor reads its probes and
    /// metrics on a private port whatever `--no-probe` and `--no-metrics` say (they
    /// apply to the pod's), and replaces it at `--max-memory` and `--max-lifetime`
    /// instead of its liveness failing. The supervisor sends the pod's webhooks, so the
    /// process sends none.
    #[cfg_attr(not(feature = "probe"), allow(unused_mut, unused_variables))]
    pub fn for_pod_process(mut self, args: &ServeArgs) -> Self {
        #[cfg(feature = "probe")]
        {
            let mut options = probe_options(args);
            options.config.paths.metrics = Some(ProbePath::new(&args.metrics_path));
            options.config.max_memory_mb = None;
            options.config.max_lifetime = None;
            self.probes = Some(options);
        }
        self.webhook_url = None;
        self
    }
}

fn check_processes(args: &ServeArgs, processes: &ProcessConfig) -> Result<(), ConfigError> {
    if !processes.wants_supervisor() {
        return Ok(());
    }
    if args.autoreload || args.debug {
        let reload = if args.autoreload {
            "--autoreload"
        } else {
            "--debug"
        };
        return Err(ConfigError::ProcessesWithReload {
            processes: processes.count,
            reload,
        });
    }
    if !args.no_probe && args.probe_port == Some(args.port) {
        return Err(ConfigError::ProcessesWithProbesOnAppPort);
    }
    Ok(())
}

fn server_config(args: &ServeArgs) -> ServerConfig {
    // --max-buffer-size (django-hurricane's) limits bodies too: one limit, the smaller.
    let max_body_size = args
        .max_buffer_size
        .map_or(args.max_body_size, |buffer| buffer.min(args.max_body_size));
    ServerConfig {
        max_body_size,
        max_header_size: args.max_header_size,
        header_read_timeout: Duration::from_secs_f64(args.header_read_timeout),
        graceful_timeout: Duration::from_secs_f64(args.graceful_timeout),
        keep_alive_timeout: Duration::from_secs_f64(args.keep_alive_timeout),
        max_connections: args.max_connections.map(|n| n as usize),
        forwarded_allow_ips: args.forwarded_allow_ips.clone(),
        ..ServerConfig::new(SocketAddr::new(args.host, args.port))
    }
}

/// Options whose feature this build lacks: refused when given, rather than ignored.
fn check_built(args: &ServeArgs) -> Result<(), ConfigError> {
    let options = [
        (
            "--probe-port",
            "probe",
            args.probe_port.is_some(),
            cfg!(feature = "probe"),
        ),
        (
            "--webhook-url",
            "webhook",
            args.webhook_url.is_some(),
            cfg!(feature = "webhook"),
        ),
        (
            "--processes (above 1) or --max-requests",
            "processes",
            args.processes != Processes::Count(1) || args.max_requests.is_some(),
            cfg!(feature = "processes"),
        ),
    ];
    match options
        .iter()
        .find(|(_, _, given, built)| *given && !*built)
    {
        Some(&(option, feature, ..)) => Err(ConfigError::NotBuilt { option, feature }),
        None => Ok(()),
    }
}

/// `--probe-port`, defaulting to `--port + 1` (to 0 with `--port 0`).
fn probe_placement(args: &ServeArgs) -> Result<ProbePlacement, ConfigError> {
    if args.no_probe || !cfg!(feature = "probe") {
        return Ok(ProbePlacement::Off);
    }
    let port = match args.probe_port {
        Some(port) => port,
        None if args.port == 0 => 0,
        None => args
            .port
            .checked_add(1)
            .ok_or(ConfigError::NoProbePort(args.port))?,
    };
    Ok(if port == args.port && port != 0 {
        ProbePlacement::OnAppPort
    } else {
        ProbePlacement::Port {
            addr: SocketAddr::new(args.host, port),
            defaulted: args.probe_port.is_none(),
        }
    })
}

fn startup_options(args: &ServeArgs) -> Result<StartupOptions, ConfigError> {
    let commands = args
        .command
        .iter()
        .map(|text| ManagementCommand::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let migrations = if args.check_migrations_apply {
        Migrations::Apply
    } else if args.check_migrations {
        Migrations::Wait
    } else {
        Migrations::Ignore
    };
    Ok(StartupOptions {
        run_checks: !args.skip_checks,
        commands,
        migrations,
        bridge: BridgeOptions {
            script_name: args.root_path.clone(),
            tracebacks: args.debug,
        },
        files: FileOptions {
            serve_static: args.serve_static,
            serve_media: args.serve_media,
            static_max_age: args.static_max_age,
        },
    })
}

fn probe_options(args: &ServeArgs) -> ProbeOptions {
    ProbeOptions {
        #[cfg(feature = "probe")]
        config: ProbeConfig {
            paths: ProbePaths {
                startup: ProbePath::new(&args.startup_probe),
                liveness: ProbePath::new(&args.liveness_probe),
                readiness: ProbePath::new(&args.readiness_probe),
                metrics: (!args.no_metrics).then(|| ProbePath::new(&args.metrics_path)),
            },
            req_queue_len: args.req_queue_len,
            max_lifetime: args.max_lifetime,
            max_memory_mb: args.max_memory,
            probe_timeout: Duration::from_secs_f64(args.probe_timeout),
        },
        access_log: args.log_probes,
    }
}

/// The webhook receiver: parsed now, so that a typo stops hurricane at start instead of
/// failing every delivery.
fn webhook_url(url: &str) -> Result<http::Uri, ConfigError> {
    let bad = |problem: &str| ConfigError::WebhookUrl {
        url: url.to_owned(),
        problem: problem.to_owned(),
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(bad(&format!("the scheme is {other:?}"))),
        None => return Err(bad("it has no scheme")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(uri)
}

/// One less than the CPU count, at least 1: one core stays free for the Python thread
/// holding the GIL.
fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(args: &[&str], supervised: bool) -> Result<ServeConfig, ConfigError> {
        let argv = ["hurricane", "serve"].iter().chain(args);
        let Command::Serve(args) = Cli::parse_from(argv).command;
        ServeConfig::new(&args, supervised)
    }

    #[test]
    fn several_processes_or_max_requests_need_the_supervisor() {
        let processes = |args: &[&str]| config(args, false).expect("valid").processes;
        assert!(!processes(&[]).wants_supervisor());
        assert!(!processes(&["--max-memory", "500"]).wants_supervisor());
        assert!(processes(&["--processes", "2"]).wants_supervisor());
        assert!(processes(&["--max-requests", "1000"]).wants_supervisor());
        let auto = processes(&["--processes", "auto"]);
        assert!(auto.count >= 1);
        assert!(
            auto.count
                <= std::thread::available_parallelism()
                    .map_or(1, usize::from)
                    .max(cpu_quota().unwrap_or(1))
        );
    }

    #[test]
    fn processes_refuse_autoreload_and_probes_on_the_app_port() {
        let error = config(&["--processes", "3", "--autoreload"], false).expect_err("refused");
        assert!(
            matches!(
                error,
                ConfigError::ProcessesWithReload {
                    processes: 3,
                    reload: "--autoreload"
                }
            ),
            "{error}"
        );
        let error = config(
            &["--processes", "2", "--port", "8000", "--probe-port", "8000"],
            false,
        )
        .expect_err("refused");
        assert!(
            matches!(error, ConfigError::ProcessesWithProbesOnAppPort),
            "{error}"
        );
        assert!(config(&["--processes", "2", "--no-probe"], false).is_ok());
    }

    #[test]
    fn seconds_become_durations_and_flags_an_enum() {
        let config = config(
            &["--graceful-timeout", "2.5", "--check-migrations-apply"],
            false,
        )
        .expect("valid");
        assert_eq!(config.server.graceful_timeout, Duration::from_millis(2500));
        assert_eq!(config.startup.migrations, Migrations::Apply);
    }

    #[test]
    fn the_request_timeout_is_off_unless_given_and_never_zero() {
        assert_eq!(
            config(&[], false).expect("valid").python.request_timeout,
            None
        );
        let timeout = |value: &str| config(&["--timeout", value], false);
        assert_eq!(
            timeout("1.5").expect("valid").python.request_timeout,
            Some(Duration::from_millis(1500))
        );
        for bad in ["0", "-1", "0.0", "soon", "inf", "NaN"] {
            let argv = ["hurricane", "serve", "--timeout", bad];
            let error = Cli::try_parse_from(argv).expect_err(bad).to_string();
            assert!(
                error.contains("--timeout <SECONDS>") && error.contains(bad),
                "{bad}: {error}"
            );
        }
        let error = Cli::try_parse_from(["hurricane", "serve", "--timeout", "0"])
            .expect_err("zero")
            .to_string();
        assert!(error.contains("must be above 0 seconds"), "{error}");
    }

    #[cfg(feature = "probe")]
    #[test]
    fn probe_paths_are_normalised_once() {
        let config = config(&["--liveness-probe", "health/live/"], false).expect("valid");
        let probes = config.probes.expect("probes on");
        assert_eq!(probes.config.paths.liveness.as_str(), "/health/live");
    }

    #[test]
    fn a_debugger_under_the_reload_supervisor_is_refused_whatever_its_source() {
        assert!(matches!(
            config(&["--autoreload", "--debugger"], false),
            Err(ConfigError::ReloadWithDebugger {
                reload: "--autoreload"
            })
        ));
        // A supervised server that got --debugger from its Django settings.
        assert!(matches!(
            config(&["--debugger"], true),
            Err(ConfigError::ReloadWithDebugger {
                reload: "--autoreload"
            })
        ));
        assert!(config(&["--debugger"], false).is_ok());
    }

    #[test]
    fn debug_gives_tracebacks_and_is_refused_with_a_debugger_naming_itself() {
        let debug = config(&["--debug"], false).expect("valid");
        assert!(debug.startup.bridge.tracebacks);
        let plain = config(&[], false).expect("valid");
        assert!(!plain.startup.bridge.tracebacks);
        for args in [
            &["--debug", "--debugger"][..],
            &[
                "--debug",
                "--pycharm-host",
                "localhost",
                "--pycharm-port",
                "1",
            ],
        ] {
            let error = config(args, false).expect_err("refused");
            assert!(
                matches!(error, ConfigError::ReloadWithDebugger { reload: "--debug" }),
                "{error}"
            );
            assert!(error
                .to_string()
                .starts_with("--debug cannot be combined with a debugger"));
        }
    }

    #[test]
    fn the_smaller_of_the_body_and_buffer_sizes_is_the_one_body_limit() {
        let limit = |args: &[&str]| config(args, false).expect("valid").server.max_body_size;
        assert_eq!(limit(&["--max-body-size", "5000"]), 5000);
        assert_eq!(
            limit(&["--max-body-size", "5000", "--max-buffer-size", "300"]),
            300
        );
        assert_eq!(
            limit(&["--max-body-size", "300", "--max-buffer-size", "5000"]),
            300
        );
        assert_eq!(limit(&["--max-buffer-size", "1024"]), 1024);
    }

    #[cfg(feature = "webhook")]
    #[test]
    fn a_bad_webhook_url_is_refused_at_start() {
        for url in [
            "localhost:9000/hooks",
            "ftp://example.com/",
            "http://",
            "not a url",
        ] {
            let error = config(&["--webhook-url", url], false).expect_err(url);
            assert!(
                matches!(error, ConfigError::WebhookUrl { .. }),
                "{url}: {error}"
            );
        }
        let config = config(&["--webhook-url", "https://hooks.example.com/x"], false);
        assert!(config.expect("valid").webhook_url.is_some());
    }
}
