//! `hurricane`: a Kubernetes-native application server for Django. This crate is the
//! command line and the wiring of the other crates; both launchers run it:
//!
//! - the `hurricane` binary (`src/main.rs`), which embeds CPython;
//! - the Python package (`hurricane-py`: `python manage.py serve`, the `hurricane`
//!   console script), which runs inside a Python process that already started.
//!
//! [`run`] takes the arguments and a [`Launcher`] and returns the exit status; the
//! wiring lives in `serve` (and the supervisors: `reload` for `--autoreload`,
//! `processes` for `--processes`; `supervised` is the servers' side of both).
//!
//! What it is not for: a library API of its own. Embedders wanting a piece of hurricane
//! use the library crates (`hurricane-core`, `-static`, `-probe`, `-wsgi`, `-reload`,
//! `-supervisor`).

mod cli;
mod config;
mod files;
mod launcher;
mod logging;
mod options;
mod ports;
mod probes;
#[cfg(feature = "processes")]
mod processes;
mod reload;
mod serve;
mod signals;
mod startup;
mod supervised;
mod webhooks;

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

pub use crate::launcher::{Launcher, PythonHost, Relaunch};

use crate::cli::{CommandLine, ServeArgs};
use crate::config::ConfigError;
use crate::logging::{LogFilter, LogFormat};

/// Runs the command line `args` (the first one names the program, as in `argv`) and
/// returns the exit status. Installs the SIGTERM and SIGINT handling first, so it is
/// meant to be called once per process.
pub fn run(launcher: &Launcher, args: impl IntoIterator<Item = OsString>) -> u8 {
    // First: a SIGTERM or Ctrl-C from here on is handled, never lost or a traceback.
    if let Err(error) = signals::install() {
        return report(&CliError::Signals(error));
    }
    report_panics_briefly();
    // Before any other thread reads the environment: reading the sockets clears their
    // variables, so that processes started from here do not take them.
    let inherited = supervised::inherited();
    if let Err(error) = options::check_environment() {
        return report(&CliError::Options(error));
    }
    let (mut args, command_line) = match parse(args.into_iter().collect()) {
        Ok(parsed) => parsed,
        Err(error) => return usage(&error),
    };
    if command_line.serve.value_source("log_level") == Some(ValueSource::DefaultValue) {
        // Django has already refused a LOGGING level that means nothing.
        if let Some(level) = launcher.default_log_level.as_deref() {
            args.log_level = LogFilter::parse(level).unwrap_or(args.log_level);
        }
    }
    let log_format = args.log_format;
    let log_guard = logging::init(&args.log_level, log_format);
    let outcome = serve_or_supervise(args, &command_line, launcher, inherited);
    match outcome {
        Ok(()) => 0,
        // A log aggregator reads JSON only: the last line is one more event.
        Err(error) if log_format == LogFormat::Json => {
            tracing::error!(%error, "hurricane: error: {error}");
            drop(log_guard);
            error.exit_code()
        }
        Err(error) => {
            drop(log_guard);
            report(&error)
        }
    }
}

/// Serves, or supervises the servers when the options ask for reloading or for several
/// processes.
fn serve_or_supervise(
    args: ServeArgs,
    command_line: &CommandLine,
    launcher: &Launcher,
    inherited: supervised::Inherited,
) -> Result<(), CliError> {
    if reload::wanted(&args, inherited.is_supervised()) {
        return Ok(reload::supervise(&args, &launcher.relaunch)?);
    }
    #[cfg(feature = "processes")]
    if let Some(config) = processes::wanted(&args, inherited.is_supervised()) {
        return Ok(processes::supervise(&config, &args, &launcher.relaunch)?);
    }
    match serve::run(args, command_line, launcher.python, inherited)? {
        serve::Served::Stopped => Ok(()),
        // HURRICANE_DEBUG in the Django settings: this process becomes the supervisor.
        serve::Served::NeedsSupervisor(args) => Ok(reload::supervise(&args, &launcher.relaunch)?),
    }
}

/// The `serve` options, and the command line they came from.
fn parse(argv: Vec<OsString>) -> Result<(ServeArgs, CommandLine), clap::Error> {
    let matches = cli::Cli::command().try_get_matches_from(&argv)?;
    let cli::Cli {
        command: cli::Command::Serve(args),
    } = cli::Cli::from_arg_matches(&matches)?;
    let serve = matches
        .subcommand_matches("serve")
        .cloned()
        .unwrap_or_default();
    Ok((args, CommandLine { argv, serve }))
}

/// Why `hurricane` stopped with an error.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot handle SIGTERM and SIGINT: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Options(#[from] options::OptionsError),
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    #[error(transparent)]
    Supervise(#[from] reload::SuperviseError),
}

impl CliError {
    /// The exit status: 2 for options that contradict each other (as clap's usage errors),
    /// 1 for everything else.
    fn exit_code(&self) -> u8 {
        let conflict = matches!(
            self,
            CliError::Serve(serve::ServeError::Config(
                ConfigError::ReloadWithDebugger { .. }
            )) | CliError::Supervise(reload::SuperviseError::Config(
                ConfigError::ReloadWithDebugger { .. }
            ))
        );
        if conflict {
            2
        } else {
            1
        }
    }
}

/// The one place errors reach the user: one line on stderr, and the exit status.
fn report(error: &CliError) -> u8 {
    eprintln!("hurricane: error: {error}");
    error.exit_code()
}

/// A usage error, `--help` or `--version`: clap's text, and its exit status (2 for an
/// error, 0 for help and version).
fn usage(error: &clap::Error) -> u8 {
    // Printing to a closed stdout is nothing to report.
    let _ = error.print();
    u8::try_from(error.exit_code()).unwrap_or(2)
}

/// A bug in hurricane should still end in one readable line, not a Rust backtrace.
fn report_panics_briefly() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("hurricane: internal error{location}: {message} (this is a bug in hurricane; please report it)");
    }));
}
