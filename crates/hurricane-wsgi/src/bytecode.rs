//! Project bytecode checked by hash, for servers that replace themselves on every save.

use pyo3::prelude::*;

use crate::{bootstrap, Interpreter, InterpreterError};

impl Interpreter {
    /// From now on a project module (one under the paths given to [`Interpreter::start`],
    /// outside the Python installation and site-packages) is imported from its cached
    /// bytecode only when that was compiled from the source as it is now, compared by
    /// hash, instead of CPython's check of the source's mtime in whole seconds and size,
    /// which two saves of the same size within a second get past. For `--autoreload`
    /// children, whose promise is that the code on disk answers; call it before anything
    /// of the project is imported. See `check_project_bytecode_by_hash` in
    /// `bootstrap.py`.
    pub fn check_project_bytecode_by_hash(&self) -> Result<(), InterpreterError> {
        Python::attach(|py| {
            bootstrap::call(py, "check_project_bytecode_by_hash", ())
                .map(drop)
                .map_err(|error| InterpreterError::Startup(bootstrap::describe(py, &error)))
        })
    }
}
