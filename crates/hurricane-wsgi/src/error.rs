use std::path::PathBuf;

/// Why the embedded interpreter could not start.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error(
        "VIRTUAL_ENV is set to {venv}, but {venv}/bin has no python3: activate a valid virtualenv or unset VIRTUAL_ENV"
    )]
    VenvWithoutPython { venv: PathBuf },
    #[error(
        "the virtualenv at {venv} uses Python {venv_version}, but this hurricane was built for Python {linked_version}: create the virtualenv with python{linked_version}"
    )]
    VersionMismatch {
        venv: PathBuf,
        venv_version: String,
        linked_version: String,
    },
    #[error("a path contains a NUL byte: {0}")]
    NulInPath(String),
    #[error("Python failed to start: {0}")]
    Startup(String),
}

/// Why the application could not be loaded. The message is meant for the user as it is.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Django's system checks found errors; the message is Django's own report.
    #[error("{0}")]
    SystemChecks(String),
    /// Anything else: a missing settings module, an import error in the project, a WSGI
    /// callable that does not exist.
    #[error("{0}")]
    Failed(String),
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
