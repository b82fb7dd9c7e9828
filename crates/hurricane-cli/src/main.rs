//! `hurricane`: a Kubernetes-native application server for Django.
//!
//! This file only parses the command line and hands over to the subcommand; the wiring of
//! the crates lives in [`serve`] (and, for `--autoreload`, the supervisor in [`reload`]).

mod cli;
mod files;
mod logging;
mod options;
mod ports;
mod reload;
mod serve;
mod signals;
mod startup;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // First: a SIGTERM or Ctrl-C from here on is handled, never lost or a traceback.
    if let Err(error) = signals::install() {
        eprintln!("hurricane: error: cannot handle SIGTERM and SIGINT: {error}");
        return ExitCode::FAILURE;
    }
    report_panics_briefly();
    if let Err(error) = options::check_environment() {
        eprintln!("hurricane: error: {error}");
        return ExitCode::FAILURE;
    }
    let matches = cli::Cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let cli::Command::Serve(args) = &cli.command;
    if args.autoreload && (args.debugger || args.pycharm_host.is_some()) {
        // Each reload would end the debugging session; django-hurricane refuses it too.
        cli::Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--autoreload cannot be combined with a debugger (--debugger, --pycharm-host): \
                 every reload would end the debugging session",
            )
            .exit();
    }
    match cli.command {
        cli::Command::Serve(args) => {
            let log_guard = logging::init(&args.log_level);
            let serve_matches = matches
                .subcommand_matches("serve")
                .cloned()
                .unwrap_or_default();
            let outcome = if args.autoreload {
                reload::supervise(&args).map_err(|e| e.to_string())
            } else {
                serve::run(args, &serve_matches).map_err(|e| e.to_string())
            };
            drop(log_guard);
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("hurricane: error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
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
