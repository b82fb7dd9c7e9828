//! `hurricane serve`: wires the interpreter, the application, the Python pool and the
//! HTTP server together, and runs until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use hurricane_core::{AccessLog, Server, ServerConfig, ServerError, ShutdownOutcome};
use hurricane_wsgi::{
    resolve_settings_module, AppSpec, BridgeOptions, Interpreter, InterpreterError, LoadError,
    PythonEnvironment, PythonPool, SettingsError, WsgiHandler,
};

use crate::cli::ServeArgs;

/// Why `hurricane serve` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the working directory: {0}")]
    WorkingDirectory(#[source] std::io::Error),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot start the Python threads: {0}")]
    Threads(#[source] std::io::Error),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
}

pub fn run(args: &ServeArgs) -> Result<(), ServeError> {
    let project_dir = std::env::current_dir().map_err(ServeError::WorkingDirectory)?;
    let spec = match &args.app {
        Some(target) => AppSpec::Callable(target.clone()),
        None => AppSpec::Django {
            settings_module: resolve_settings_module(
                args.settings.as_deref(),
                std::env::var("DJANGO_SETTINGS_MODULE").ok().as_deref(),
                &project_dir,
            )?,
            run_checks: !args.skip_checks,
        },
    };

    let environment = PythonEnvironment::detect()?;
    // As with manage.py: --pythonpath entries first, then the project directory.
    let mut python_path = args.pythonpath.clone();
    python_path.push(project_dir);
    let interpreter = Interpreter::start(&environment, &python_path)?;
    tracing::info!(
        python = %environment.executable.as_deref().map_or_else(|| "(default)".into(), |p| p.display().to_string()),
        virtualenv = %environment.virtualenv.as_deref().map_or_else(|| "(none)".into(), |p| p.display().to_string()),
        "Python started"
    );
    let application = interpreter.load(
        &spec,
        BridgeOptions {
            script_name: args.root_path.clone(),
        },
    )?;
    let pool = PythonPool::start(usize::from(args.workers)).map_err(ServeError::Threads)?;

    let io_threads = args.io_threads.map_or_else(default_io_threads, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .enable_all()
        .thread_name("hurricane-io")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let config = ServerConfig {
            max_body_size: args.max_body_size,
            max_header_size: args.max_header_size,
            header_read_timeout: Duration::from_secs_f64(args.header_read_timeout),
            graceful_timeout: Duration::from_secs_f64(args.graceful_timeout),
            ..ServerConfig::new(SocketAddr::new(args.host, args.port))
        };
        let server = Server::bind(config)
            .await?
            .with_observer(Arc::new(AccessLog));
        let address = server.local_addr()?;
        tracing::info!(
            host = %address.ip(),
            port = address.port(),
            workers = args.workers,
            "Starting HTTP server on port {}",
            address.port()
        );
        let handler = WsgiHandler::new(application, pool);
        let (first_signal, second_signal) = watch_signals();
        let serving = server.serve(handler, async {
            let _ = first_signal.await;
        });
        tokio::select! {
            outcome = serving => match outcome {
                ShutdownOutcome::Drained => tracing::info!("all requests finished; exiting"),
                ShutdownOutcome::TimedOut => tracing::warn!(
                    graceful_timeout_s = args.graceful_timeout,
                    "graceful timeout reached with requests still running; exiting"
                ),
            },
            Ok(()) = second_signal => tracing::warn!(
                "second signal: exiting now, without waiting for in-flight requests"
            ),
        }
        Ok(())
    })
}

fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Resolves the first receiver on the first SIGTERM or SIGINT (start a graceful
/// shutdown) and the second on the next one (a person pressing Ctrl-C again: stop now).
fn watch_signals() -> (oneshot::Receiver<()>, oneshot::Receiver<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (first_tx, first) = oneshot::channel();
    let (second_tx, second) = oneshot::channel();
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; SIGTERM will not shut down gracefully");
        // Keep the senders alive so that neither receiver ever resolves.
        std::mem::forget((first_tx, second_tx));
        return (first, second);
    };
    tokio::spawn(async move {
        for notify in [first_tx, second_tx] {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "Received {name}, shutting down");
            let _ = notify.send(());
        }
    });
    (first, second)
}
