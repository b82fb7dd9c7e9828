//! `--autoreload`: the supervisor side (this process binds the ports, watches the project
//! and runs `hurricane serve` children; the children's side is `supervised`), and the
//! error of either supervisor. Cargo feature `reload`.

use crate::cli::ServeArgs;
use crate::config::ConfigError;
use crate::launcher::Relaunch;
use crate::ports::BindError;

/// Why a supervisor (`--autoreload`'s or `--processes`') cannot run.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(feature = "reload"), allow(dead_code))]
pub enum SuperviseError {
    #[error("cannot read the working directory: {0}")]
    WorkingDirectory(std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[cfg(feature = "reload")]
    #[error(transparent)]
    Reload(#[from] hurricane_reload::ReloadError),
    #[error(transparent)]
    Pod(#[from] hurricane_supervisor::PodError),
    #[cfg(not(feature = "reload"))]
    #[error("--autoreload and --debug need a hurricane built with the cargo feature `reload`")]
    NotBuilt,
}

/// Whether this process must be the `--autoreload` supervisor rather than a server:
/// `--autoreload`, or `--debug` in a process no supervisor started (the servers a
/// supervisor starts keep `--debug`, for its tracebacks, and must not supervise again).
pub fn wanted(args: &ServeArgs, supervised: bool) -> bool {
    args.autoreload || (args.debug && !supervised)
}

#[cfg(feature = "reload")]
pub use enabled::supervise;

#[cfg(not(feature = "reload"))]
pub use disabled::supervise;

#[cfg(feature = "reload")]
mod enabled {
    use std::ffi::OsString;
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use hurricane_reload::{ChangeWatcher, Supervisor, WatchFilter, WatchRoot};
    use tokio::sync::mpsc;

    use super::*;
    use crate::config::{Listen, ServeConfig};
    use crate::ports::{Ports, ProbePort};
    use crate::signals;

    /// How long a replaced server may take to finish its requests before it is killed.
    const REPLACED_GRACE: Duration = Duration::from_secs(5);

    /// Runs the supervisor until SIGTERM or SIGINT. Never loads Python itself (under
    /// `manage.py`, or after `HURRICANE_DEBUG` in the Django settings, it is loaded
    /// already, and left alone).
    pub fn supervise(args: &ServeArgs, relaunch: &Relaunch) -> Result<(), SuperviseError> {
        let config = ServeConfig::new(args, false)?;
        let project = std::env::current_dir().map_err(SuperviseError::WorkingDirectory)?;
        let listeners = bind(&config.listen)?;
        let mut roots: Vec<WatchRoot> = std::iter::once(project.clone())
            .chain(args.pythonpath.iter().map(|p| project.join(p)))
            .filter(|p| p.is_dir())
            .map(|path| WatchRoot {
                path,
                is_static: false,
            })
            .collect();
        for path in &args.static_watch {
            let path = project.join(path);
            if path.exists() {
                roots.push(WatchRoot {
                    path,
                    is_static: true,
                });
            } else {
                tracing::error!(path = %path.display(), "Tried to watch {}, but it does not exist", path.display());
            }
        }
        let filter = WatchFilter::new(&args.reload_include, &args.reload_exclude)?;
        for dir in virtualenvs(&roots) {
            filter.ignore_dir(dir);
        }
        let ignored = filter.ignored_dirs();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SuperviseError::Runtime)?;
        runtime.block_on(async {
            let (changes_tx, changes) = mpsc::unbounded_channel();
            let directories = roots.len();
            let _watcher = ChangeWatcher::start(roots, filter, changes_tx)?;
            tracing::info!(
                directories,
                "Watching for changes in {directories} directories (autoreload)"
            );
            let supervisor =
                Supervisor::new(listeners, child_command(relaunch), ignored, REPLACED_GRACE);
            let stop = signals::watch();
            let stopped = async move {
                if let Ok(signal) = stop.first.await {
                    tracing::info!(
                        signal = signal.name(),
                        "stopping the server and the supervisor"
                    );
                }
            };
            supervisor.run(changes, stopped).await?;
            Ok(())
        })
    }

    /// The application's socket, and the probes' when they have a port of their own:
    /// the same choice `serve` makes. They listen at once: children serve from them.
    fn bind(listen: &Listen) -> Result<Vec<TcpListener>, BindError> {
        let Ports { app, probes } = Ports::reserve(listen)?;
        let mut listeners = vec![app.listen()?];
        if let ProbePort::Own(port) = probes {
            listeners.push(port.listen()?);
        }
        Ok(listeners)
    }

    /// This server started again as `relaunch` says, minus `--autoreload` (or its alias
    /// `--reload`).
    fn child_command(relaunch: &Relaunch) -> hurricane_reload::ChildCommand {
        let program = relaunch.program.clone();
        let args: Vec<OsString> = relaunch
            .args
            .iter()
            .filter(|arg| {
                let text = arg.to_string_lossy();
                let name = text.split_once('=').map_or(text.as_ref(), |(name, _)| name);
                !matches!(name, "--autoreload" | "--reload")
            })
            .cloned()
            .collect();
        Box::new(move |collect_static| {
            let mut command = std::process::Command::new(&program);
            command.args(&args).env_remove("HURRICANE_AUTORELOAD");
            if collect_static {
                command.args(["--command", "collectstatic --noinput"]);
            }
            command
        })
    }

    /// Virtualenvs inside the watched directories (`pyvenv.cfg` up to two levels down),
    /// and the active one.
    fn virtualenvs(roots: &[WatchRoot]) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::env::var_os("VIRTUAL_ENV")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        let subdirs = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default()
        };
        for root in roots {
            for child in subdirs(&root.path) {
                for dir in std::iter::once(child.clone()).chain(subdirs(&child)) {
                    if dir.join("pyvenv.cfg").is_file() {
                        found.push(dir);
                    }
                }
            }
        }
        found
    }
}

#[cfg(not(feature = "reload"))]
mod disabled {
    use super::*;

    pub fn supervise(_: &ServeArgs, _: &Relaunch) -> Result<(), SuperviseError> {
        Err(SuperviseError::NotBuilt)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(args: &[&str]) -> ServeArgs {
        let argv = ["hurricane", "serve"].iter().chain(args);
        let Command::Serve(args) = Cli::parse_from(argv).command;
        args
    }

    #[test]
    fn debug_supervises_unless_a_supervisor_started_this_process() {
        assert!(wanted(&args(&["--debug"]), false));
        assert!(!wanted(&args(&["--debug"]), true));
        assert!(wanted(&args(&["--autoreload"]), false));
        assert!(!wanted(&args(&[]), false));
    }
}
