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

use tokio::sync::oneshot;

use hurricane_core::{Handler, KeepAlive, Server, ServerError, ShutdownOutcome};
use hurricane_wsgi::{
    resolve_settings_module, Application, Interpreter, InterpreterError, LoadError,
    PythonEnvironment, PythonPool, SettingsError, WsgiHandler,
};

use crate::cli::{CommandLine, ServeArgs};
use crate::config::{ConfigError, Debuggers, ServeConfig};
use crate::files;
use crate::launcher::PythonHost;
use crate::options::{self, OptionsError};
use crate::ports::{BindError, Port, Ports};
use crate::probes::{self, Health, HealthError};
use crate::reload;
use crate::signals::{self, StopSignal, StopSignals};
use crate::startup::{self, AppSource, Started, StartupError, StartupPlan};
use crate::supervised;
use crate::webhooks::Webhooks;

/// Why `hurricane serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the working directory: {0}")]
    WorkingDirectory(std::io::Error),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot read the address of a listening socket: {0}")]
    #[cfg_attr(not(feature = "probe"), allow(dead_code))]
    Listener(std::io::Error),
    #[error("cannot start a thread: {0}")]
    Threads(std::io::Error),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot take connections from the supervisor: {0}")]
    Handoff(std::io::Error),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// How serving ended.
#[derive(Debug)]
pub enum Served {
    /// After SIGTERM or SIGINT.
    Stopped,
    /// Not started: the Django settings turned on `--debug` (`HURRICANE_DEBUG`), which
    /// reloads, so this process must become the supervisor, with these options. Its
    /// ports are released.
    NeedsSupervisor(Box<ServeArgs>),
}

/// What to serve, as the command line says.
enum Target {
    /// A Django project with this settings module.
    Django(String),
    /// `--app module:callable`.
    Callable(String),
}

/// The Python half of the build: the interpreter, the application to load, and the
/// options with the project's Django settings applied.
struct Loaded {
    interpreter: Interpreter,
    source: AppSource,
    args: ServeArgs,
    /// The `HURRICANE_VERSION` setting, for webhooks.
    version: Option<String>,
}

/// Builds the server (ports, Python, the merged and checked configuration), then runs
/// it until SIGTERM or SIGINT. `inherited`: the sockets a supervisor handed down.
pub fn run(
    args: ServeArgs,
    command_line: &CommandLine,
    python: PythonHost,
    inherited: supervised::Inherited,
) -> Result<Served, ServeError> {
    let supervised = inherited.is_supervised();
    let pod_process = inherited.is_pod_process();
    // Checked before Python starts, and again below with the Django settings applied.
    let early = ServeConfig::new(&args, supervised)?;
    let ports = match inherited.app {
        Some(app) => Ports::inherited(app, inherited.probes, &early.listen),
        None => Ports::reserve(&early.listen)?,
    };
    let loaded = load(args, command_line, python, supervised)?;
    let mut config = ServeConfig::new(&loaded.args, supervised)?;
    if pod_process {
        if config.webhook_url.is_some() && early.webhook_url.is_none() {
            tracing::warn!("Django setting HURRICANE_WEBHOOK_URL ignored under --processes: the supervisor sends the pod's webhooks and reads no Django settings; use --webhook-url or HURRICANE_WEBHOOK_URL in the environment");
        }
        config = config.for_pod_process(&loaded.args);
    }
    if reload::wanted(&loaded.args, supervised) {
        tracing::info!(
            "HURRICANE_DEBUG in the Django settings: reloading on changes, as --debug does"
        );
        drop(ports); // the supervisor binds them again
        return Ok(Served::NeedsSupervisor(Box::new(loaded.args)));
    }
    let ports = ports.reserve_again_if_changed(&config.listen)?;
    start_debuggers(&config.debuggers, &loaded.interpreter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.python.io_threads)
        .enable_all()
        .thread_name("hurricane-io")
        .build()
        .map_err(ServeError::Runtime)?;
    let launch = Launch {
        ports,
        supervised,
        pod_process,
        version: loaded.version,
    };
    let plan = StartupPlan {
        source: loaded.source,
        options: config.startup.clone(),
    };
    let outcome = runtime.block_on(serve(&config, loaded.interpreter, plan, launch));
    // Python threads never finish (a request may be stuck in user code): do not wait.
    runtime.shutdown_background();
    outcome.map(|()| Served::Stopped)
}

/// Starts Python and, for a Django project, loads its settings and applies the
/// `HURRICANE_*` ones to `args`.
fn load(
    args: ServeArgs,
    command_line: &CommandLine,
    python: PythonHost,
    supervised: bool,
) -> Result<Loaded, ServeError> {
    let project_dir = std::env::current_dir().map_err(ServeError::WorkingDirectory)?;
    let target = match &args.app {
        Some(callable) => Target::Callable(callable.clone()),
        None => Target::Django(resolve_settings_module(
            args.settings.as_deref(),
            std::env::var("DJANGO_SETTINGS_MODULE").ok().as_deref(),
            &project_dir,
        )?),
    };
    // As with manage.py: --pythonpath entries first, then the project directory.
    let mut python_path = args.pythonpath.clone();
    python_path.push(project_dir);
    let interpreter = start_python(python, &python_path)?;
    if supervised {
        // A replacement under --autoreload must run the code as saved, however quickly
        // and to whatever size the file was saved again.
        interpreter.check_project_bytecode_by_hash()?;
    }
    let settings_module = match target {
        Target::Django(settings_module) => settings_module,
        Target::Callable(callable) => {
            return Ok(Loaded {
                interpreter,
                source: AppSource::Callable(callable),
                args,
                version: None,
            })
        }
    };
    let project = interpreter
        .setup_django(&settings_module)
        .map_err(failed_startup)?;
    let settings = project.hurricane_settings().map_err(failed_startup)?;
    let unprefixed = project
        .defined_settings(&options::UNPREFIXED_SETTINGS)
        .map_err(failed_startup)?;
    options::warn_about_unprefixed_settings(&unprefixed, &settings);
    let args = options::apply_django_settings(args, command_line, &settings)?;
    Ok(Loaded {
        interpreter,
        args,
        version: project.version_setting(),
        source: AppSource::Django(project),
    })
}

/// Starts Python for the binary, or adopts the interpreter of the Python process that
/// imported hurricane.
fn start_python(
    python: PythonHost,
    python_path: &[std::path::PathBuf],
) -> Result<Interpreter, ServeError> {
    let interpreter = match python {
        PythonHost::Embedded => {
            let environment = PythonEnvironment::detect()?;
            let interpreter = Interpreter::start(&environment, python_path)?;
            tracing::info!(
                python = %environment.executable.as_deref().map_or_else(|| "(default)".into(), |p| p.display().to_string()),
                virtualenv = %environment.virtualenv.as_deref().map_or_else(|| "(none)".into(), |p| p.display().to_string()),
                "Python started"
            );
            interpreter
        }
        PythonHost::Running => Interpreter::adopt(python_path)?,
    };
    Ok(interpreter)
}

/// The sockets to serve on, whether a supervisor handed them down, and the
/// `HURRICANE_VERSION` setting.
struct Launch {
    ports: Ports,
    supervised: bool,
    /// One of the processes of `--processes`.
    pod_process: bool,
    version: Option<String>,
}

/// The run phase: probes, start-up work, then the application until a signal.
async fn serve(
    config: &ServeConfig,
    interpreter: Interpreter,
    plan: StartupPlan,
    launch: Launch,
) -> Result<(), ServeError> {
    let Launch {
        ports,
        supervised,
        pod_process,
        version,
    } = launch;
    let webhooks = Webhooks::start(config.webhook_url.as_ref(), version);
    let mut health = Health::start(config, ports.probes, supervised, webhooks)?;
    let commands = plan.options.command_texts();
    let started = run_startup(interpreter, plan, &health).await?;
    let pool = PythonPool::start(config.python.workers, config.python.concurrency.into())
        .map_err(ServeError::Threads)?;
    health.attach(started.health, &pool)?;
    let pod_pool = pod_process.then(|| pool.stats());
    let wsgi = wsgi_handler(started.application, pool, config)?;
    let server = app_server(ports.app, config)?;
    let server = with_observers(server, &health, config, pod_pool);
    let address = server.local_addr()?;
    let startup_seconds = health.started(&probes::Serving {
        config,
        port: address.port(),
        commands,
    });
    tracing::info!(
        host = %address.ip(),
        port = address.port(),
        workers = config.python.workers,
        concurrency = %config.python.concurrency.as_str(),
        "Starting HTTP server on port {}",
        address.port()
    );
    tracing::info!(
        startup_seconds,
        "Startup time is {startup_seconds:.3} seconds"
    );
    supervised::notify_ready(started.media_root.as_deref());
    let handler = files::in_front_of(started.files, wsgi);
    serve_until_stopped(config, server, handler, &health).await;
    if pod_process {
        // After the last request: the pod's counters include all this process served.
        if let Some(text) = health.metrics_text() {
            hurricane_supervisor::notify_metrics(&text);
        }
    }
    health.stop().await;
    Ok(())
}

/// The access log and the metrics; for one of the processes of `--processes` (`pod_pool`:
/// its pool), what asks the supervisor to replace it.
fn with_observers(
    mut server: Server,
    health: &Health,
    config: &ServeConfig,
    pod_pool: Option<std::sync::Arc<hurricane_wsgi::PoolStats>>,
) -> Server {
    for observer in health.app_observers(config) {
        server = server.with_observer(observer);
    }
    #[cfg(feature = "processes")]
    if let Some(pool) = pod_pool {
        let retirement = crate::processes::Retirement::new(&config.processes);
        retirement.watch(config.processes.max_memory_mb, pool, config.python.workers);
        server = server.with_observer(retirement);
    }
    #[cfg(not(feature = "processes"))]
    let _ = pod_pool;
    server
}

/// The application's server: on its port, or on the connections the `--processes`
/// supervisor hands over.
fn app_server(port: Port, config: &ServeConfig) -> Result<Server, ServeError> {
    match port {
        Port::Handoff(socket) => {
            let connections =
                hurricane_supervisor::handoff::receive(socket).map_err(ServeError::Handoff)?;
            Ok(Server::from_handed(connections, config.server.clone()))
        }
        port => Ok(Server::from_listener(
            port.listen()?,
            config.server.clone(),
        )?),
    }
}

/// The application on `pool`, with `--timeout`.
fn wsgi_handler(
    application: Application,
    pool: PythonPool,
    config: &ServeConfig,
) -> Result<WsgiHandler, ServeError> {
    let handler = WsgiHandler::new(application, pool);
    match config.python.request_timeout {
        Some(timeout) => handler.with_timeout(timeout).map_err(ServeError::Threads),
        None => Ok(handler),
    }
}

/// Runs the start-up work on a thread of its own (it takes the GIL); the probes answer
/// meanwhile. A failure is logged with its traceback and sent as the startup webhook.
/// A signal meanwhile ends the process at once (see `signals`).
async fn run_startup(
    interpreter: Interpreter,
    plan: StartupPlan,
    health: &Health,
) -> Result<Started, ServeError> {
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
    let error = match started {
        Ok(started) => return Ok(started),
        Err(error) => error,
    };
    log_traceback(&error);
    let traceback = error
        .traceback()
        .map_or_else(|| error.to_string(), str::to_owned);
    health.startup_failed(&traceback).await;
    Err(error.into())
}

/// Serves the application until the first signal and the drain after it, or a second
/// signal.
async fn serve_until_stopped(
    config: &ServeConfig,
    server: Server,
    handler: impl Handler,
    health: &Health,
) {
    let StopSignals { first, second } = signals::watch();
    let keep_alive = KeepAlive::default();
    let server = server.with_keep_alive(keep_alive.clone());
    let shutdown = drain_after(first, health, &keep_alive, config.shutdown_delay);
    tokio::select! {
        outcome = health.serve(server, handler, shutdown) => match outcome {
            ShutdownOutcome::Drained => tracing::info!("all requests finished; exiting"),
            ShutdownOutcome::TimedOut => tracing::warn!(
                graceful_timeout_s = config.server.graceful_timeout.as_secs_f64(),
                "graceful timeout reached with requests still running; exiting"
            ),
        },
        Ok(_) = second => tracing::warn!(
            "second signal: exiting now, without waiting for in-flight requests"
        ),
    }
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
/// `--shutdown-delay` so that endpoints are removed before connections stop. Meanwhile
/// every response says `Connection: close`, so that keep-alive clients reconnect,
/// through the balancer, to a pod that stays, before this one stops accepting.
async fn drain_after(
    first: oneshot::Receiver<StopSignal>,
    health: &Health,
    keep_alive: &KeepAlive,
    shutdown_delay: std::time::Duration,
) {
    let Ok(signal) = first.await else {
        return std::future::pending().await;
    };
    health.drain();
    keep_alive.end();
    let delay = match signal {
        StopSignal::Terminate => shutdown_delay,
        StopSignal::Interrupt => std::time::Duration::ZERO,
    };
    let delay_s = delay.as_secs_f64();
    tracing::info!(
        signal = signal.name(),
        shutdown_delay_s = delay_s,
        "readiness now fails; still serving for {delay_s} s, with Connection: close, before draining"
    );
    tokio::time::sleep(delay).await;
}

/// `--debugger` and `--pycharm-host`: a debugger that cannot start is a warning.
fn start_debuggers(debuggers: &Debuggers, interpreter: &Interpreter) {
    if let Some(port) = debuggers.debugpy {
        match interpreter.start_debugger(port) {
            Ok(()) => tracing::info!(port, "Listening for debug clients at port {port}"),
            Err(warning) => tracing::warn!("{warning}"),
        }
    }
    if let Some((host, port)) = &debuggers.pycharm {
        match interpreter.connect_pycharm(host, *port) {
            Ok(()) => {
                tracing::info!(%host, port, "Connected to the PyCharm debug server at {host}:{port}")
            }
            Err(warning) => tracing::warn!("{warning}"),
        }
    }
}
