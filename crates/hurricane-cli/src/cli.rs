//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hurricane_core::{ForwardedAllowIps, ForwardedAllowIpsError};
use hurricane_wsgi::Concurrency;

use crate::logging::{LogFilter, LogFormat};

/// `--version`: the version, then the cargo features built in, which tests and
/// scripts read to know what this binary can do.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nfeatures: ",
    env!("HURRICANE_FEATURES")
);

/// A Kubernetes-native application server for Django.
#[derive(Debug, Parser)]
#[command(name = "hurricane", version, long_version = LONG_VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The command line as given: its arguments (the first names the program) and the
/// `serve` subcommand's matches, which say where each option's value came from.
#[derive(Debug)]
pub struct CommandLine {
    pub argv: Vec<std::ffi::OsString>,
    pub serve: clap::ArgMatches,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Django project (run it in the directory that holds manage.py) or a WSGI app.
    Serve(ServeArgs),
}

// Every option but --settings also reads HURRICANE_<OPTION> from the environment; the
// Django settings of the same names are applied by `options::apply_django_settings`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Every option can also come from the environment (HURRICANE_PORT=9000, HURRICANE_NO_METRICS=true) \
or from a Django setting of the same name (HURRICANE_PORT = 9000). Precedence: command line, then environment, \
then Django settings, then the default. --settings, --pythonpath, --app, --log-level and the --autoreload options cannot come from Django settings."
)]
pub struct ServeArgs {
    /// Address to listen on (the application and the probes).
    #[arg(long, default_value = "0.0.0.0", env = "HURRICANE_HOST")]
    pub host: std::net::IpAddr,

    /// Port of the application server.
    #[arg(long, default_value_t = 8000, env = "HURRICANE_PORT")]
    pub port: u16,

    /// Django settings module [default: $DJANGO_SETTINGS_MODULE, else the one manage.py names].
    #[arg(long, value_name = "MODULE")]
    pub settings: Option<String>,

    /// A directory to add to the Python path (repeatable); the working directory is always on it.
    #[arg(
        long,
        value_name = "DIR",
        env = "HURRICANE_PYTHONPATH",
        value_delimiter = ':'
    )]
    pub pythonpath: Vec<PathBuf>,

    /// Serve this WSGI callable instead of a Django project, e.g. `app:app` (Django-only features are off).
    #[arg(long, value_name = "MODULE:CALLABLE", env = "HURRICANE_APP")]
    pub app: Option<String>,

    /// Most Python threads running requests at once. Each Django thread holds its own
    /// database connection while it runs a request, so this is also the most database
    /// connections the process opens. With `--concurrency adaptive` only as many run as
    /// the load can use: one while requests compute, more while they wait on the database
    /// or the network (see hurricane-wsgi's `PythonPool`).
    #[arg(long, default_value_t = 48, env = "HURRICANE_WORKERS", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: u16,

    /// Server processes: `auto` (the container's CPU quota, from cgroup v2 `cpu.max`,
    /// else the CPU count) or a number. With more than one, a supervisor without Python
    /// binds the ports, hands each connection to the process with the fewest open,
    /// answers the probes and /metrics for the pod, and replaces a process that dies,
    /// stops answering its liveness checks for 10 s, or reaches --max-requests,
    /// --max-memory or --max-lifetime, without failing a request; SIGHUP replaces them one at a time (new
    /// code). Each process runs --workers Python threads. Set on the command line or in
    /// the environment (the supervisor reads no Django settings).
    #[arg(long, default_value = "1", value_name = "N|auto", value_parser = processes, env = "HURRICANE_PROCESSES")]
    pub processes: Processes,

    /// Replace a server process gracefully once it has served N requests (plus a random
    /// 0..=--max-requests-jitter, so that processes are not replaced all at once): the
    /// new one starts, and the old one finishes its requests. Runs the supervisor even
    /// with --processes 1. Set on the command line or in the environment.
    #[arg(long, value_name = "N", env = "HURRICANE_MAX_REQUESTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,

    /// The most requests added at random to --max-requests, per process.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "J",
        env = "HURRICANE_MAX_REQUESTS_JITTER"
    )]
    pub max_requests_jitter: u64,

    /// How many of the `--workers` threads run at once: `adaptive` (one while requests
    /// compute, more while they wait outside the GIL) or `fixed` (all of them, like
    /// gunicorn's `--threads`).
    #[arg(long, value_enum, default_value_t = ConcurrencyMode::Adaptive, env = "HURRICANE_CONCURRENCY")]
    pub concurrency: ConcurrencyMode,

    /// Seconds a request may wait for its response to start, counted from its arrival
    /// (time queued for a Python thread included); after that it is answered 504 Gateway
    /// Timeout. The view's Python thread cannot be killed: it keeps running, its result is
    /// dropped when it comes, and its stack is logged at the timeout. A request still
    /// queued then never runs. Off by default.
    #[arg(long, value_name = "SECONDS", value_parser = request_timeout, allow_negative_numbers = true, env = "HURRICANE_TIMEOUT")]
    pub timeout: Option<Duration>,

    /// Threads doing network I/O [default: one less than the CPU count, at least 1, so
    /// one core stays free for the Python thread holding the GIL].
    #[arg(long, value_name = "N", env = "HURRICANE_IO_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub io_threads: Option<u16>,

    /// Largest request body in bytes; larger bodies are answered with 413.
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_name = "BYTES", env = "HURRICANE_MAX_BODY_SIZE")]
    pub max_body_size: u64,

    /// A request body limit in bytes, as django-hurricane's --max-buffer-size: the
    /// smaller of it and --max-body-size applies [default: --max-body-size alone].
    #[arg(long, value_name = "BYTES", env = "HURRICANE_MAX_BUFFER_SIZE")]
    pub max_buffer_size: Option<u64>,

    /// Largest request head (request line and headers) in bytes; larger heads get 431.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES", env = "HURRICANE_MAX_HEADER_SIZE")]
    pub max_header_size: usize,

    /// Seconds a client has to send a complete request head.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds, env = "HURRICANE_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: f64,

    /// Seconds in-flight requests get to finish once the server stops accepting
    /// connections (after SIGTERM and --shutdown-delay, or SIGINT).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds, env = "HURRICANE_GRACEFUL_TIMEOUT")]
    pub graceful_timeout: f64,

    /// Seconds an idle keep-alive connection stays open waiting for its next request.
    /// The default is above the 60 s idle timeout of the common cloud load balancers, so
    /// that the balancer closes an idle connection first and never sends a request on
    /// one hurricane is closing.
    #[arg(long, default_value_t = 75.0, value_name = "SECONDS", value_parser = positive_seconds, env = "HURRICANE_KEEP_ALIVE_TIMEOUT")]
    pub keep_alive_timeout: f64,

    /// Most client connections open at once on the application port; beyond it, new
    /// connections wait in the listen backlog (they are not refused) until one closes.
    /// No limit by default: an idle connection costs a few KiB, the work is bounded by
    /// the Python threads, and readiness already fails at --req-queue-len. With probes
    /// on the application port, they wait behind the limit too.
    #[arg(long, value_name = "N", env = "HURRICANE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Proxies (addresses or networks, comma separated; `*` for any peer) whose
    /// X-Forwarded-For and X-Forwarded-Proto give the client's address (REMOTE_ADDR, the
    /// access log) and scheme (wsgi.url_scheme). Other peers' headers reach Django as
    /// plain headers. The default, gunicorn's, trusts a proxy on the same host; behind an
    /// ingress, give its pods' network.
    #[arg(long, default_value = "127.0.0.1,::1", value_name = "IPS", value_parser = forwarded_allow_ips, env = "HURRICANE_FORWARDED_ALLOW_IPS")]
    pub forwarded_allow_ips: ForwardedAllowIps,

    /// Seconds the application keeps serving after SIGTERM, with readiness already
    /// failing, so that Kubernetes takes the pod out of its Services before connections
    /// stop. Keep --shutdown-delay plus --graceful-timeout below the pod's
    /// terminationGracePeriodSeconds. SIGINT (Ctrl-C) does not wait.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = positive_seconds, env = "HURRICANE_SHUTDOWN_DELAY")]
    pub shutdown_delay: f64,

    /// URL prefix the application is mounted under (WSGI SCRIPT_NAME), e.g. /api.
    #[arg(long, default_value = "", value_name = "PATH", value_parser = root_path, env = "HURRICANE_ROOT_PATH")]
    pub root_path: String,

    /// Skip Django's system checks at start.
    #[arg(long, env = "HURRICANE_SKIP_CHECKS", value_parser = BoolishValueParser::new())]
    pub skip_checks: bool,

    /// A management command to run before the application port opens, e.g.
    /// "migrate --noinput" (repeatable, run in order; split as a shell would, so quotes
    /// work). A failing command stops hurricane with exit status 1.
    #[arg(long, value_name = "COMMAND", env = "HURRICANE_COMMAND")]
    pub command: Vec<String>,

    /// Before the application port opens, wait until every migration is applied on every
    /// database (checked once a second; the startup probe fails meanwhile).
    #[arg(long, env = "HURRICANE_CHECK_MIGRATIONS", value_parser = BoolishValueParser::new())]
    pub check_migrations: bool,

    /// Before the application port opens, apply pending migrations on every database.
    #[arg(long, env = "HURRICANE_CHECK_MIGRATIONS_APPLY", value_parser = BoolishValueParser::new())]
    pub check_migrations_apply: bool,

    /// Serve STATIC_URL from STATIC_ROOT, ahead of Django and without Python. With DEBUG
    /// on and django.contrib.staticfiles installed, from the staticfiles finders'
    /// directories instead, as runserver does (no collectstatic needed).
    #[arg(long = "static", env = "HURRICANE_STATIC", value_parser = BoolishValueParser::new())]
    pub serve_static: bool,

    /// Serve MEDIA_URL from MEDIA_ROOT, ahead of Django and without Python.
    #[arg(long = "media", env = "HURRICANE_MEDIA", value_parser = BoolishValueParser::new())]
    pub serve_media: bool,

    /// Seconds clients may cache a static file whose name carries no content hash
    /// (names listed in STATIC_ROOT/staticfiles.json get a year, immutable)
    /// [default: 60, or 0 with DEBUG on].
    #[arg(long, value_name = "SECONDS", env = "HURRICANE_STATIC_MAX_AGE")]
    pub static_max_age: Option<u32>,

    /// Restart the server when the project's code changes: a supervisor process keeps the
    /// ports open and runs the server in a child process, replaced on every change
    /// without refusing a connection. For development; not with the debuggers.
    /// `--reload` (gunicorn's, uvicorn's and granian's name) works too.
    #[arg(long, visible_alias = "reload", env = "HURRICANE_AUTORELOAD", value_parser = BoolishValueParser::new())]
    pub autoreload: bool,

    /// Development mode: reload on code changes exactly as --autoreload does, and answer
    /// an error outside Django's own handling (the WSGI application raising, a response
    /// failing before its headers are sent) with a 500 whose body is the Python
    /// traceback (text/plain) instead of a generic one. Never in production: tracebacks
    /// show code and data. Not with the debuggers. Django's DEBUG does not turn it on.
    #[arg(long, env = "HURRICANE_DEBUG", value_parser = BoolishValueParser::new())]
    pub debug: bool,

    /// With --autoreload, also reload for files matching GLOB (repeatable; relative to the
    /// watched directory; a pattern without "/" matches in any directory, e.g. "*.css").
    #[arg(
        long,
        value_name = "GLOB",
        env = "HURRICANE_RELOAD_INCLUDE",
        value_delimiter = ','
    )]
    pub reload_include: Vec<String>,

    /// With --autoreload, never reload for files matching GLOB (repeatable).
    #[arg(
        long,
        value_name = "GLOB",
        env = "HURRICANE_RELOAD_EXCLUDE",
        value_delimiter = ','
    )]
    pub reload_exclude: Vec<String>,

    /// With --autoreload, watch PATH too; a change under it runs `collectstatic --noinput`
    /// before the new code serves (repeatable).
    #[arg(
        long,
        value_name = "PATH",
        env = "HURRICANE_STATIC_WATCH",
        value_delimiter = ':'
    )]
    pub static_watch: Vec<PathBuf>,

    /// Let a debugger (VS Code, any Debug Adapter Protocol client) attach: debugpy listens
    /// on --debugger-port inside the server.
    #[arg(long, env = "HURRICANE_DEBUGGER", value_parser = BoolishValueParser::new())]
    pub debugger: bool,

    /// Port debugpy listens on.
    #[arg(
        long,
        default_value_t = 5678,
        value_name = "PORT",
        env = "HURRICANE_DEBUGGER_PORT"
    )]
    pub debugger_port: u16,

    /// Connect to a PyCharm debug server on HOST (with --pycharm-port).
    #[arg(
        long,
        value_name = "HOST",
        env = "HURRICANE_PYCHARM_HOST",
        requires = "pycharm_port"
    )]
    pub pycharm_host: Option<String>,

    /// Port of the PyCharm debug server.
    #[arg(long, value_name = "PORT", env = "HURRICANE_PYCHARM_PORT")]
    pub pycharm_port: Option<u16>,

    /// Port of the probes and metrics [default: --port + 1]. Equal to --port: the probe
    /// paths are served on the application port, ahead of the application.
    #[arg(long, value_name = "PORT", env = "HURRICANE_PROBE_PORT")]
    pub probe_port: Option<u16>,

    /// Path of the startup probe.
    #[arg(
        long,
        default_value = "/startup",
        value_name = "PATH",
        env = "HURRICANE_STARTUP_PROBE"
    )]
    pub startup_probe: String,

    /// Path of the readiness probe.
    #[arg(
        long,
        default_value = "/ready",
        value_name = "PATH",
        env = "HURRICANE_READINESS_PROBE"
    )]
    pub readiness_probe: String,

    /// Path of the liveness probe.
    #[arg(
        long,
        default_value = "/alive",
        value_name = "PATH",
        env = "HURRICANE_LIVENESS_PROBE"
    )]
    pub liveness_probe: String,

    /// Path of the Prometheus metrics, on the probe port.
    #[arg(
        long = "metrics",
        default_value = "/metrics",
        value_name = "PATH",
        env = "HURRICANE_METRICS"
    )]
    pub metrics_path: String,

    /// No probes and no metrics.
    #[arg(long, env = "HURRICANE_NO_PROBE", value_parser = BoolishValueParser::new())]
    pub no_probe: bool,

    /// No /metrics endpoint (everything else stays as it is).
    #[arg(long, env = "HURRICANE_NO_METRICS", value_parser = BoolishValueParser::new())]
    pub no_metrics: bool,

    /// Write probe requests to the access log too.
    #[arg(long, env = "HURRICANE_LOG_PROBES", value_parser = BoolishValueParser::new())]
    pub log_probes: bool,

    /// Readiness fails while this many requests (or more) wait for a Python thread.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "N",
        env = "HURRICANE_REQ_QUEUE_LEN"
    )]
    pub req_queue_len: usize,

    /// With --processes (or --max-requests): a server process that has served more than
    /// N requests is replaced gracefully, dropping nothing (as --max-requests, without
    /// the jitter). A single process without a supervisor: liveness fails (400) once more
    /// than N requests were served, so that Kubernetes restarts the container.
    #[arg(long, value_name = "N", env = "HURRICANE_MAX_LIFETIME")]
    pub max_lifetime: Option<u64>,

    /// With --processes (or --max-requests): a server process whose resident memory is
    /// above this many MiB is replaced gracefully, dropping nothing. A single process
    /// without a supervisor: liveness fails (400) while it is above, so that Kubernetes
    /// restarts the container.
    #[arg(long, value_name = "MB", env = "HURRICANE_MAX_MEMORY")]
    pub max_memory: Option<u64>,

    /// Seconds a liveness or readiness probe waits for the application's checks (Django's
    /// tagged checks, the databases) before failing; keep it below the probe's
    /// timeoutSeconds (1 s by default).
    #[arg(long, default_value_t = 0.8, value_name = "SECONDS", value_parser = positive_seconds, env = "HURRICANE_PROBE_TIMEOUT")]
    pub probe_timeout: f64,

    /// POST JSON webhooks here: start-up succeeded or failed, and every change of the
    /// liveness and readiness state. With --processes the supervisor sends them, once
    /// for the pod (set it on the command line or in the environment: the supervisor
    /// reads no Django settings, so their `version` is null, not HURRICANE_VERSION).
    #[arg(long, value_name = "URL", env = "HURRICANE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Log level (info, warning, ...), or a tracing filter such as
    /// `info,hurricane::access=warn` ($HURRICANE_LOG wins). Under `manage.py serve` the
    /// default is the `hurricane` logger's level in Django's LOGGING, else info.
    #[arg(
        long,
        default_value = "info",
        value_name = "FILTER",
        env = "HURRICANE_LOG_LEVEL",
        value_parser = LogFilter::parse
    )]
    pub log_level: LogFilter,

    /// Log line format: text, or json (one object a line, for log aggregators).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "HURRICANE_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// `--concurrency`: how many Python threads run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConcurrencyMode {
    /// As many as the load can use, up to `--workers`.
    Adaptive,
    /// All `--workers` threads.
    Fixed,
}

impl ConcurrencyMode {
    /// The option's value, as it is written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyMode::Adaptive => "adaptive",
            ConcurrencyMode::Fixed => "fixed",
        }
    }
}

impl From<ConcurrencyMode> for Concurrency {
    fn from(mode: ConcurrencyMode) -> Self {
        match mode {
            ConcurrencyMode::Adaptive => Concurrency::Adaptive,
            ConcurrencyMode::Fixed => Concurrency::Fixed,
        }
    }
}

fn forwarded_allow_ips(value: &str) -> Result<ForwardedAllowIps, String> {
    value
        .parse()
        .map_err(|e: ForwardedAllowIpsError| e.to_string())
}

fn positive_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("{value:?} is not a number of seconds")),
    }
}

/// How many server processes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processes {
    /// One per CPU of the container's quota.
    Auto,
    Count(u16),
}

fn processes(value: &str) -> Result<Processes, String> {
    if value == "auto" {
        return Ok(Processes::Auto);
    }
    match value.parse::<u16>() {
        Ok(count) if (1..=256).contains(&count) => Ok(Processes::Count(count)),
        _ => Err(format!(
            "{value:?} is not `auto` or a number of processes from 1 to 256"
        )),
    }
}

/// `--timeout`: a positive number of seconds.
fn request_timeout(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("{value:?} seconds is too long")),
        Ok(seconds) if seconds.is_finite() => Err(format!(
            "{value:?}: the timeout must be above 0 seconds (leave --timeout out for none)"
        )),
        _ => Err(format!("{value:?} is not a number of seconds")),
    }
}

fn root_path(value: &str) -> Result<String, String> {
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err(format!("{value:?} must start with '/'"));
    }
    Ok(trimmed.to_owned())
}
