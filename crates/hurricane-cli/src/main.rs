//! `hurricane`: a Kubernetes-native application server for Django.
//!
//! This file only parses the command line and hands over to the subcommand; the wiring of
//! the crates lives in [`serve`] (and, for `--autoreload`, the supervisor in [`reload`]).

mod cli;
mod config;
mod files;
mod logging;
mod options;
mod ports;
mod probes;
mod reload;
mod serve;
mod signals;
mod startup;
mod webhooks;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::config::ConfigError;

fn main() -> ExitCode {
    // First: a SIGTERM or Ctrl-C from here on is handled, never lost or a traceback.
    if let Err(error) = signals::install() {
        return report(&CliError::Signals(error));
    }
    report_panics_briefly();
    if let Err(error) = options::check_environment() {
        return report(&CliError::Options(error));
    }
    let matches = cli::Cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let cli::Command::Serve(args) = cli.command;
    let log_guard = logging::init(&args.log_level);
    let serve_matches = matches
        .subcommand_matches("serve")
        .cloned()
        .unwrap_or_default();
    let outcome = if args.autoreload {
        reload::supervise(&args).map_err(CliError::from)
    } else {
        serve::run(args, &serve_matches).map_err(CliError::from)
    };
    drop(log_guard);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
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
    fn exit_code(&self) -> ExitCode {
        let conflict = matches!(
            self,
            CliError::Serve(serve::ServeError::Config(ConfigError::ReloadWithDebugger))
                | CliError::Supervise(reload::SuperviseError::Config(
                    ConfigError::ReloadWithDebugger
                ))
        );
        if conflict {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The one place errors reach the user: one line on stderr, and the exit status.
fn report(error: &CliError) -> ExitCode {
    eprintln!("hurricane: error: {error}");
    error.exit_code()
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
