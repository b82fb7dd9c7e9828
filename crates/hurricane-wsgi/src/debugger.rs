//! Debuggers inside the embedded interpreter: debugpy (VS Code) and PyCharm's pydevd.

use pyo3::prelude::*;

use crate::{bootstrap, Interpreter};

impl Interpreter {
    /// debugpy listening on `0.0.0.0:port`. `Err` is a warning to log: the server goes
    /// on without a debugger (debugpy missing, port taken).
    pub fn start_debugger(&self, port: u16) -> Result<(), String> {
        Python::attach(|py| warning(py, bootstrap::call(py, "start_debugger", (port,))))
    }

    /// pydevd connecting to a PyCharm debug server, without suspending. `Err` is a
    /// warning to log (pydevd-pycharm missing, nobody listening).
    pub fn connect_pycharm(&self, host: &str, port: u16) -> Result<(), String> {
        Python::attach(|py| warning(py, bootstrap::call(py, "connect_pycharm", (host, port))))
    }
}

/// `None` from Python is success; a string or an exception is the warning.
fn warning(py: Python<'_>, result: PyResult<Bound<'_, PyAny>>) -> Result<(), String> {
    match result {
        Ok(value) => match value.extract::<Option<String>>() {
            Ok(None) => Ok(()),
            Ok(Some(warning)) => Err(warning),
            Err(error) => Err(bootstrap::describe(py, &error)),
        },
        Err(error) => Err(bootstrap::describe(py, &error)),
    }
}
