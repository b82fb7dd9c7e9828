//! Why the interpreter could not start or the application could not be loaded.
//!
//! Error convention of the hurricane crates: a message includes the text of the error
//! that caused it, and that error is not chained as its `source()` too, so printing an
//! error prints every cause exactly once.

use std::path::PathBuf;

/// Why the embedded interpreter could not start.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// `VIRTUAL_ENV` points at a directory without a Python.
    #[error(
        "VIRTUAL_ENV is set to {venv}, but {venv}/bin has no python3: activate a valid virtualenv or unset VIRTUAL_ENV"
    )]
    VenvWithoutPython {
        /// The virtualenv named by `VIRTUAL_ENV`.
        venv: PathBuf,
    },
    /// The virtualenv's Python is not the one hurricane is linked against.
    #[error(
        "the virtualenv at {venv} uses Python {venv_version}, but this hurricane was built for Python {linked_version}: create the virtualenv with python{linked_version}"
    )]
    VersionMismatch {
        /// The virtualenv.
        venv: PathBuf,
        /// Its Python's `major.minor`.
        venv_version: String,
        /// The `major.minor` of the Python hurricane is linked against.
        linked_version: String,
    },
    /// A path handed to Python contains a NUL byte.
    #[error("a path contains a NUL byte: {0}")]
    NulInPath(String),
    /// Python raised while starting (the message says what).
    #[error("Python failed to start: {0}")]
    Startup(String),
}

/// Why the application could not be loaded. The message is meant for the user as it is.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Django's system checks found errors; the message is Django's own report.
    #[error("{0}")]
    SystemChecks(String),
    /// Anything else: a missing settings module, an exception raised by the project's
    /// code (settings, apps, URLconf, WSGI module), a WSGI callable that does not exist.
    #[error("{message}")]
    Failed {
        /// One line: hurricane's own message, or the exception and where in the project
        /// it was raised (`ModuleNotFoundError: No module named 'x' (mysite/settings.py,
        /// line 40)`).
        message: String,
        /// The Python traceback as Python prints it, chained exceptions included; `None`
        /// when the message says it all (a settings module that does not exist).
        traceback: Option<String>,
    },
}

impl LoadError {
    /// The Python traceback behind the failure, to show before the message.
    pub fn traceback(&self) -> Option<&str> {
        match self {
            LoadError::Failed { traceback, .. } => traceback.as_deref(),
            LoadError::SystemChecks(_) => None,
        }
    }

    pub(crate) fn from_python(py: pyo3::Python<'_>, error: &pyo3::PyErr) -> Self {
        let report = crate::bootstrap::report(py, error);
        if report.check_report {
            LoadError::SystemChecks(report.message)
        } else {
            LoadError::Failed {
                message: report.message,
                traceback: report.traceback,
            }
        }
    }
}

/// An exception raised by Python code hurricane ran on the user's behalf (a management
/// command, the migration check).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PythonError {
    /// One line naming the exception and where it was raised.
    pub message: String,
    /// The whole traceback (webhooks send it).
    pub traceback: String,
    /// Whether it is one of Django's database errors (the database cannot be reached).
    pub database: bool,
}

impl PythonError {
    pub(crate) fn from_python(py: pyo3::Python<'_>, error: &pyo3::PyErr) -> Self {
        Self {
            message: crate::bootstrap::describe(py, error),
            traceback: crate::bootstrap::traceback(py, error),
            database: crate::bootstrap::is_database_error(py, error),
        }
    }
}
