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
