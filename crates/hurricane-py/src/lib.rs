//! `hurricane._hurricane`: the extension module of the `hurricane` Python package (the
//! `hurricane-server` distribution, built with maturin; see `pyproject.toml`).
//!
//! It runs the same `hurricane_cli::run` as the binary, in the Python process that
//! imported it: `python manage.py serve` or the `hurricane` console script. The only
//! differences are the launcher's ([`hurricane_cli::Launcher`]): Python is already
//! running, and `--autoreload` starts its children with that Python's command line. The
//! Python half (`python/hurricane/`) resets SIGINT to its default before calling in, so
//! that hurricane's own handling (drain, then stop) applies exactly as in the binary.
//!
//! What it is not for: any server code. This crate is the Python entry point only.
//!
//! # Where the GIL is taken
//! `run` is called with the GIL held and releases it for as long as hurricane runs; the
//! interpreter is then shared with hurricane's Python threads as in the binary (see
//! `hurricane-wsgi`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use hurricane_cli::{Launcher, PythonHost, Relaunch};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// hurricane installs process-wide signal handling and logging: once per process.
static RAN: AtomicBool = AtomicBool::new(false);

/// Runs hurricane's command line `argv` (the first item names the program, as in
/// `sys.argv`) in this Python process and returns the exit status.
///
/// `relaunch` is the command line that starts this process again (`[sys.executable,
/// *sys.orig_argv[1:]]`): `--autoreload` runs its server processes with it.
/// `default_log_level` applies when neither `--log-level` nor `HURRICANE_LOG_LEVEL`
/// sets one.
#[pyfunction]
#[pyo3(signature = (argv, relaunch, default_log_level = None))]
fn run(
    py: Python<'_>,
    argv: Vec<OsString>,
    relaunch: Vec<OsString>,
    default_log_level: Option<String>,
) -> PyResult<u8> {
    let mut relaunch = relaunch.into_iter();
    let program = relaunch
        .next()
        .map(PathBuf::from)
        .ok_or_else(|| PyRuntimeError::new_err("relaunch must name a program"))?;
    if RAN.swap(true, Ordering::SeqCst) {
        return Err(PyRuntimeError::new_err(
            "hurricane runs once per process; start a new process to serve again",
        ));
    }
    let launcher = Launcher {
        python: PythonHost::Running,
        relaunch: Relaunch {
            program,
            args: relaunch.collect(),
        },
        default_log_level,
    };
    Ok(py.detach(|| hurricane_cli::run(&launcher, argv)))
}

/// The module `hurricane._hurricane`.
#[pymodule]
fn _hurricane(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
