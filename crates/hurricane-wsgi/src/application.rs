//! A loaded WSGI application, and loading one that is not a Django project.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::file_wrapper::FileWrapper;
use crate::{bootstrap, environ, Interpreter, LoadError};

/// How requests are presented to the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeOptions {
    /// The URL prefix the application is mounted under (`SCRIPT_NAME`), empty at the root.
    pub script_name: String,
    /// When the application fails before its response started (it raised, or its body
    /// failed before the head was sent), answer 500 with the Python traceback as the
    /// body instead of a generic one. For development only: a traceback shows code and
    /// data.
    pub tracebacks: bool,
}

/// A loaded WSGI application, ready to be called from the Python pool.
#[derive(Debug)]
pub struct Application {
    pub(crate) callable: Py<PyAny>,
    pub(crate) environ_template: Py<PyDict>,
    pub(crate) options: BridgeOptions,
}

impl Interpreter {
    /// Loads any WSGI callable named `module:attribute` (the attribute defaults to
    /// `application`). Django-only features are off.
    pub fn load_callable(
        &self,
        target: &str,
        options: BridgeOptions,
    ) -> Result<Application, LoadError> {
        Python::attach(|py| {
            let callable = bootstrap::call(py, "load_callable", (target,))
                .map_err(|error| LoadError::from_python(py, &error))?;
            Application::new(py, callable, options)
        })
    }
}

impl Application {
    /// Wraps a loaded WSGI callable. Call with the GIL held.
    pub(crate) fn new(
        py: Python<'_>,
        callable: Bound<'_, PyAny>,
        options: BridgeOptions,
    ) -> Result<Self, LoadError> {
        let file_wrapper = py.get_type::<FileWrapper>().into_any();
        let template = environ::template(py, &options.script_name, file_wrapper)
            .map_err(|error| LoadError::from_python(py, &error))?;
        Ok(Application {
            callable: callable.unbind(),
            environ_template: template.unbind(),
            options,
        })
    }

    /// The body of the 500 for a failure described by `detail` (a traceback): `detail`
    /// itself with `tracebacks` on, else `None` (the generic body).
    pub(crate) fn error_body(&self, detail: String) -> Option<String> {
        self.options.tracebacks.then_some(detail)
    }
}
