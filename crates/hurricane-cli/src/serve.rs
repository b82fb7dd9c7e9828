//! `hurricane serve`: wires the interpreter, the application, the Python pool, the probes
//! and the HTTP servers together, and runs until SIGTERM or SIGINT.
//!
//! Start-up, in order:
//! 1. The application's port, then the probes', are taken (bound, not listening: see
//!    [`crate::ports`]), so a port in use stops hurricane before Python starts.
//! 2. Python starts and Django's settings are loaded; the `HURRICANE_*` settings join
//!    the options.
//! 3. The probe server listens: the startup probe answers 400 from now on.
//! 4. On the start-up thread: system checks, the WSGI application, `--command`s,
//!    migrations.
//! 5. The application port listens; the startup probe answers 200, and the startup
//!    webhook is sent. A failure in 4 sends the startup webhook `failed` and exits 1.
//!
//! Until 5, SIGTERM and SIGINT end the process at once with one log line (see
//! [`crate::signals`]). Shutdown: the first SIGTERM fails readiness at once, keeps
//! serving for `--shutdown-delay`, then drains (`--graceful-timeout`); the probes answer
//! until the drain is over. SIGINT skips the delay; a second signal exits at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::ArgMatches;
use tokio::sync::oneshot;

use hurricane_core::{
    AccessLog, RequestObserver, Server, ServerConfig, ServerError, ShutdownOutcome,
};
use hurricane_probe::{
    CheckRunner, ExceptProbes, Lifecycle, Metrics, MetricsError, Probe, ProbeConfig, ProbePaths,
    ProbeService, ServerInfo, WebhookStatus, Webhooks, WithProbes,
};
use hurricane_wsgi::{
    resolve_settings_module, BridgeOptions, Interpreter, InterpreterError, LoadError,
    PythonEnvironment, PythonPool, SettingsError, WsgiHandler,
};

use crate::cli::ServeArgs;
use crate::files::{self, FileOptions};
use crate::options::{self, OptionsError};
use crate::ports::{BindError, Ports, ProbePort};
use crate::reload;
use crate::signals::{self, StopSignal, StopSignals};
use crate::startup::{self, AppSource, ManagementCommand, Migrations, StartupError, StartupPlan};

/// Why `hurricane serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the working directory: {0}")]
    WorkingDirectory(#[source] std::io::Error),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot start a thread: {0}")]
    Threads(#[source] std::io::Error),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// What to serve, as the command line says.
enum Target {
    /// A Django project with this settings module.
    Django(String),
    /// `--app module:callable`.
    Callable(String),
}

pub fn run(args: ServeArgs, matches: &ArgMatches) -> Result<(), ServeError> {
    // Before any other thread starts: reading the sockets clears their variables.
    let inherited = reload::inherited();
    let supervised = inherited.is_supervised();
    let ports = match inherited.app {
        Some(app) => Ports::inherited(app, inherited.probes, &args)?,
        None => Ports::reserve(&args)?,
    };
    let lifecycle = Arc::new(Lifecycle::new());
    let project_dir = std::env::current_dir().map_err(ServeError::WorkingDirectory)?;
    let target = match &args.app {
        Some(callable) => Target::Callable(callable.clone()),
        None => Target::Django(resolve_settings_module(
            args.settings.as_deref(),
            std::env::var("DJANGO_SETTINGS_MODULE").ok().as_deref(),
            &project_dir,
        )?),
    };

    let environment = PythonEnvironment::detect()?;
    // As with manage.py: --pythonpath entries first, then the project directory.
    let mut python_path = args.pythonpath.clone();
    python_path.push(project_dir);
    let interpreter = Interpreter::start(&environment, &python_path)?;
    if supervised {
        // A replacement under --autoreload must run the code as saved, however quickly
        // and to whatever size the file was saved again.
        interpreter.check_project_bytecode_by_hash()?;
    }
    tracing::info!(
        python = %environment.executable.as_deref().map_or_else(|| "(default)".into(), |p| p.display().to_string()),
        virtualenv = %environment.virtualenv.as_deref().map_or_else(|| "(none)".into(), |p| p.display().to_string()),
        "Python started"
    );

    let (args, source, version_setting) = match target {
        Target::Callable(callable) => (args, AppSource::Callable(callable), None),
        Target::Django(settings_module) => {
            let project = interpreter
                .setup_django(&settings_module)
                .map_err(failed_startup)?;
            let settings = project.hurricane_settings().map_err(failed_startup)?;
            let args = options::apply_django_settings(args, matches, &settings)?;
            let version = project.version_setting();
            (args, AppSource::Django(project), version)
        }
    };
    // HURRICANE_PORT and its kin may have come from the Django settings.
    let ports = ports.reserve_again_if_changed(&args)?;
    start_debuggers(&args, &interpreter);
    let commands = args
        .command
        .iter()
        .map(|text| ManagementCommand::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = StartupPlan {
        source,
        run_checks: !args.skip_checks,
        commands,
        migrations: if args.check_migrations_apply {
            Migrations::Apply
        } else if args.check_migrations {
            Migrations::Wait
        } else {
            Migrations::Ignore
        },
        bridge: BridgeOptions {
            script_name: args.root_path.clone(),
        },
        files: FileOptions {
            serve_static: args.serve_static,
            serve_media: args.serve_media,
            static_max_age: args.static_max_age,
        },
    };

    let io_threads = args.io_threads.map_or_else(default_io_threads, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .enable_all()
        .thread_name("hurricane-io")
        .build()
        .map_err(ServeError::Runtime)?;
    let outcome = runtime.block_on(serve(
        &args,
        interpreter,
        plan,
        lifecycle,
        version_setting,
        Launch { ports, supervised },
    ));
    // Python threads never finish (a request may be stuck in user code): do not wait.
    runtime.shutdown_background();
    outcome
}

/// The sockets to serve on, and whether a supervisor handed them down.
struct Launch {
    ports: Ports,
    supervised: bool,
}

async fn serve(
    args: &ServeArgs,
    interpreter: Interpreter,
    plan: StartupPlan,
    lifecycle: Arc<Lifecycle>,
    version_setting: Option<String>,
    launch: Launch,
) -> Result<(), ServeError> {
    let Launch { ports, supervised } = launch;
    let webhooks = args
        .webhook_url
        .clone()
        .map(|url| Webhooks::start(url, version_setting));
    let commands = plan
        .commands
        .iter()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("; ");

    let metrics = Arc::new(Metrics::new()?);
    let probes = Probes::start(
        args,
        &lifecycle,
        &metrics,
        webhooks.clone(),
        (ports.probes, supervised),
    )?;

    // Start-up work runs on its own thread; the probes answer meanwhile. A signal now
    // ends the process at once (see `signals`).
    let (started_tx, started_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("hurricane-startup".into())
        .spawn(move || {
            let _ = started_tx.send(startup::run(&interpreter, plan));
        })
        .map_err(ServeError::Threads)?;
    let Ok(started) = started_rx.await else {
        // The start-up thread died without an answer: only a panic, already reported.
        return Err(ServeError::Threads(std::io::Error::other(
            "the start-up thread ended unexpectedly",
        )));
    };
    let started = match started {
        Ok(started) => started,
        Err(error) => {
            log_traceback(&error);
            if let Some(webhooks) = &webhooks {
                let traceback = error
                    .traceback()
                    .map_or_else(|| error.to_string(), str::to_owned);
                webhooks
                    .send_and_wait(Probe::Startup, WebhookStatus::Failed, Some(&traceback))
                    .await;
            }
            return Err(error.into());
        }
    };

    let pool = PythonPool::start(usize::from(args.workers), args.concurrency.into())
        .map_err(ServeError::Threads)?;
    if let Some(service) = probes.service() {
        let checks = CheckRunner::start(Arc::new(started.health)).map_err(ServeError::Threads)?;
        service.attach_application(checks, pool.stats());
    }

    let config = ServerConfig {
        max_body_size: args.max_body_size,
        max_header_size: args.max_header_size,
        header_read_timeout: Duration::from_secs_f64(args.header_read_timeout),
        graceful_timeout: Duration::from_secs_f64(args.graceful_timeout),
        ..ServerConfig::new(SocketAddr::new(args.host, args.port))
    };
    let mut server = Server::from_listener(ports.app.listen()?, config)?;
    for observer in app_observers(args, &probes, &metrics) {
        server = server.with_observer(observer);
    }
    let address = server.local_addr()?;
    let startup_seconds = lifecycle.mark_started();
    // Under --autoreload the probe socket is shared with the server being replaced:
    // this one answers probes only once it has started, so probes never see it starting.
    let probes = if supervised { probes.open() } else { probes };
    metrics.set_info(&ServerInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        startup_seconds,
        server_port: address.port(),
        probe_port: match &probes {
            Probes::Off => None,
            Probes::OnAppPort(_) => Some(address.port()),
            Probes::Deferred { port, .. } | Probes::OwnPort { port, .. } => Some(*port),
        },
        serve_static: args.serve_static,
        serve_media: args.serve_media,
        commands,
    });
    tracing::info!(
        host = %address.ip(),
        port = address.port(),
        workers = args.workers,
        concurrency = %args.concurrency.as_str(),
        "Starting HTTP server on port {}",
        address.port()
    );
    tracing::info!(
        startup_seconds,
        "Startup time is {startup_seconds:.3} seconds"
    );
    if let Some(webhooks) = &webhooks {
        webhooks.send(Probe::Startup, WebhookStatus::Succeeded, None);
    }
    reload::notify_ready(started.media_root.as_deref());

    let handler = files::in_front_of(started.files, WsgiHandler::new(started.application, pool));
    let StopSignals { first, second } = signals::watch();
    let shutdown = drain_after(first, Arc::clone(&lifecycle), args.shutdown_delay);
    let integrated = match &probes {
        Probes::OnAppPort(service) => Some(service.clone()),
        _ => None,
    };
    let serving = async move {
        match integrated {
            Some(service) => {
                server
                    .serve(WithProbes::new(service, handler), shutdown)
                    .await
            }
            None => server.serve(handler, shutdown).await,
        }
    };
    tokio::select! {
        outcome = serving => match outcome {
            ShutdownOutcome::Drained => tracing::info!("all requests finished; exiting"),
            ShutdownOutcome::TimedOut => tracing::warn!(
                graceful_timeout_s = args.graceful_timeout,
                "graceful timeout reached with requests still running; exiting"
            ),
        },
        Ok(_) = second => tracing::warn!(
            "second signal: exiting now, without waiting for in-flight requests"
        ),
    }
    probes.stop().await;
    Ok(())
}

/// The one place a start-up failure's Python traceback is shown: logged as Python prints
/// it, before `main` prints the one-line error.
fn log_traceback(error: &StartupError) {
    if let Some(traceback) = error.traceback() {
        tracing::error!("start-up failed:\n{traceback}");
    }
}

/// A failure to load the Django project on the main thread, before the runtime starts.
fn failed_startup(error: LoadError) -> ServeError {
    let error = StartupError::Load(error);
    log_traceback(&error);
    error.into()
}

/// Completes when the application server should stop accepting: on the first signal,
/// readiness starts failing; after SIGTERM the application keeps serving for
/// `--shutdown-delay` so that endpoints are removed before connections stop.
async fn drain_after(
    first: oneshot::Receiver<StopSignal>,
    lifecycle: Arc<Lifecycle>,
    shutdown_delay: f64,
) {
    let Ok(signal) = first.await else {
        return std::future::pending().await;
    };
    lifecycle.start_draining();
    let delay = match signal {
        StopSignal::Terminate => shutdown_delay,
        StopSignal::Interrupt => 0.0,
    };
    tracing::info!(
        signal = signal.name(),
        shutdown_delay_s = delay,
        "readiness now fails; still serving for {delay} s before draining"
    );
    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
}

/// Who hears about application requests: the access log and the metrics. Requests for the
/// probes, when they share the application's port, are left out of both (the access log
/// keeps them with `--log-probes`).
fn app_observers(
    args: &ServeArgs,
    probes: &Probes,
    metrics: &Arc<Metrics>,
) -> Vec<Arc<dyn RequestObserver>> {
    let access: Arc<dyn RequestObserver> = Arc::new(AccessLog);
    let counted: Arc<dyn RequestObserver> = Arc::clone(metrics) as Arc<dyn RequestObserver>;
    let service = match probes {
        Probes::Off => return vec![access],
        Probes::Deferred { .. } | Probes::OwnPort { .. } => return vec![access, counted],
        Probes::OnAppPort(service) => service,
    };
    let paths = service.paths().clone();
    let access = if args.log_probes {
        access
    } else {
        Arc::new(ExceptProbes::new(paths.clone(), access))
    };
    vec![access, Arc::new(ExceptProbes::new(paths, counted))]
}

/// Where the probes are served.
enum Probes {
    /// `--no-probe`.
    Off,
    /// `--probe-port` equal to `--port`: ahead of the application, on its port.
    OnAppPort(ProbeService),
    /// On a server of their own, not yet accepting (see [`Probes::open`]).
    Deferred {
        service: ProbeService,
        port: u16,
        server: Server,
    },
    /// On a server of their own.
    OwnPort {
        service: ProbeService,
        port: u16,
        /// Stops the probe server.
        stop: oneshot::Sender<()>,
        /// Ends when the probe server has stopped.
        server: tokio::task::JoinHandle<ShutdownOutcome>,
    },
}

impl Probes {
    /// The probe service, and its server on `port` when they have a port of their own.
    /// Under a supervisor (`supervised`) that server does not accept yet: see
    /// [`Probes::open`].
    fn start(
        args: &ServeArgs,
        lifecycle: &Arc<Lifecycle>,
        metrics: &Arc<Metrics>,
        webhooks: Option<Webhooks>,
        (port, supervised): (ProbePort, bool),
    ) -> Result<Self, ServeError> {
        if let ProbePort::Off = port {
            tracing::info!("No probe server (--no-probe)");
            return Ok(Self::Off);
        }
        let config = ProbeConfig {
            paths: ProbePaths {
                startup: ProbePaths::normalise(&args.startup_probe),
                liveness: ProbePaths::normalise(&args.liveness_probe),
                readiness: ProbePaths::normalise(&args.readiness_probe),
                metrics: (!args.no_metrics).then(|| ProbePaths::normalise(&args.metrics_path)),
            },
            req_queue_len: args.req_queue_len,
            max_lifetime: args.max_lifetime,
            max_memory_mb: args.max_memory,
            probe_timeout: Duration::from_secs_f64(args.probe_timeout),
        };
        let service = ProbeService::new(config, Arc::clone(lifecycle), Arc::clone(metrics));
        if let Some(webhooks) = webhooks {
            service.send_webhooks(webhooks);
        }
        let ProbePort::Own(port) = port else {
            tracing::info!(
                port = args.port,
                "Probes will be served on the application port once start-up is over"
            );
            return Ok(Self::OnAppPort(service));
        };
        let listener = port.listen()?;
        let addr = listener
            .local_addr()
            .unwrap_or(SocketAddr::new(args.host, 0));
        let config = ServerConfig {
            name: "probe",
            // Probes and scrapes are small and quick; a stuck one must not hold up exit.
            graceful_timeout: Duration::from_secs(1),
            ..ServerConfig::new(addr)
        };
        let mut server = Server::from_listener(listener, config)?;
        if args.log_probes {
            server = server.with_observer(Arc::new(AccessLog));
        }
        let port = server.local_addr()?.port();
        let paths = service.paths();
        tracing::info!(
            port,
            startup = %paths.startup,
            liveness = %paths.liveness,
            readiness = %paths.readiness,
            metrics = paths.metrics.as_deref().unwrap_or("(off)"),
            "Starting probe server on port {port}"
        );
        let deferred = Self::Deferred {
            service,
            port,
            server,
        };
        Ok(if supervised {
            deferred
        } else {
            deferred.open()
        })
    }

    /// Starts accepting on a deferred probe server.
    fn open(self) -> Self {
        let Self::Deferred {
            service,
            port,
            server,
        } = self
        else {
            return self;
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(server.serve(service.clone(), async {
            let _ = stop_rx.await;
        }));
        Self::OwnPort {
            service,
            port,
            stop: stop_tx,
            server,
        }
    }

    fn service(&self) -> Option<&ProbeService> {
        match self {
            Self::Off => None,
            Self::OnAppPort(service)
            | Self::Deferred { service, .. }
            | Self::OwnPort { service, .. } => Some(service),
        }
    }

    /// Stops the probe server once the application has stopped serving.
    async fn stop(self) {
        if let Self::OwnPort { stop, server, .. } = self {
            let _ = stop.send(());
            let _ = server.await;
        }
    }
}

/// `--debugger` and `--pycharm-host`: a debugger that cannot start is a warning.
fn start_debuggers(args: &ServeArgs, interpreter: &Interpreter) {
    if args.debugger {
        match interpreter.start_debugger(args.debugger_port) {
            Ok(()) => tracing::info!(
                port = args.debugger_port,
                "Listening for debug clients at port {}",
                args.debugger_port
            ),
            Err(warning) => tracing::warn!("{warning}"),
        }
    }
    if let (Some(host), Some(port)) = (&args.pycharm_host, args.pycharm_port) {
        match interpreter.connect_pycharm(host, port) {
            Ok(()) => {
                tracing::info!(%host, port, "Connected to the PyCharm debug server at {host}:{port}")
            }
            Err(warning) => tracing::warn!("{warning}"),
        }
    }
}

fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}
