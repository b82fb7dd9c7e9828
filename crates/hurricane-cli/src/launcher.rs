//! Who started hurricane: the `hurricane` binary, or a Python process that imported it as
//! an extension module (`python manage.py serve`, the `hurricane` console script).
//!
//! This is the only difference between the two launchers, and it stops at start-up:
//! who initialises CPython ([`PythonHost`]) and what command starts this same server
//! again under `--autoreload` ([`Relaunch`]). Everything after (the runtime, the pool,
//! probes, static files, signals, the reload supervisor) is the same code.

use std::ffi::OsString;
use std::path::PathBuf;

/// Who owns the Python interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonHost {
    /// The `hurricane` binary: it initialises CPython itself, as the active virtualenv's
    /// `python3` would be.
    Embedded,
    /// A Python process already runs (hurricane is its extension module): hurricane
    /// adopts that interpreter. The caller has released the GIL.
    Running,
}

/// The command that starts this same server again (the `--autoreload` supervisor's
/// children): a program and the arguments it was given, `--autoreload` included (the
/// supervisor removes it).
#[derive(Debug, Clone)]
pub struct Relaunch {
    /// The executable: the `hurricane` binary, or the Python that runs `manage.py`.
    pub program: PathBuf,
    /// Its arguments, without the program name.
    pub args: Vec<OsString>,
}

/// How this process was started.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Who owns the Python interpreter.
    pub python: PythonHost,
    /// How `--autoreload` starts the server processes it supervises.
    pub relaunch: Relaunch,
    /// The log level when neither `--log-level` nor `HURRICANE_LOG_LEVEL` gives one
    /// (under `manage.py`: the `hurricane` logger's level in Django's `LOGGING`).
    pub default_log_level: Option<String>,
}

impl Launcher {
    /// The `hurricane` binary: relaunched as itself with the same arguments.
    pub fn binary() -> Self {
        let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("hurricane"));
        Self {
            python: PythonHost::Embedded,
            relaunch: Relaunch {
                program,
                args: std::env::args_os().skip(1).collect(),
            },
            default_log_level: None,
        }
    }
}
