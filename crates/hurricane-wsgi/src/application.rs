//! Loading the application: a Django project or any WSGI callable.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::file_wrapper::FileWrapper;
use crate::{bootstrap, environ, Interpreter, LoadError};

/// What to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpec {
    /// A Django project: `django.setup()` with this settings module, optionally Django's
    /// system checks, then the callable named by `WSGI_APPLICATION`.
    Django {
        settings_module: String,
        run_checks: bool,
    },
    /// Any WSGI callable, as `module:attribute`. Django-only features are off.
    Callable(String),
}

/// How requests are presented to the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeOptions {
    /// The URL prefix the application is mounted under (`SCRIPT_NAME`), empty at the root.
    pub script_name: String,
}

/// A loaded WSGI application, ready to be called from the Python pool.
#[derive(Debug)]
pub struct Application {
    pub(crate) callable: Py<PyAny>,
    pub(crate) environ_template: Py<PyDict>,
    pub(crate) options: BridgeOptions,
}

impl Interpreter {
    /// Loads the application described by `spec`. Django's system-check report, if any, is
    /// printed as `manage.py` prints it; failures come back as one message for the user.
    pub fn load(&self, spec: &AppSpec, options: BridgeOptions) -> Result<Application, LoadError> {
        Python::attach(|py| {
            let loaded = bootstrap::module(py).and_then(|module| match spec {
                AppSpec::Django {
                    settings_module,
                    run_checks,
                } => module
                    .getattr("load_django")?
                    .call1((settings_module, *run_checks)),
                AppSpec::Callable(target) => module.getattr("load_callable")?.call1((target,)),
            });
            let callable = loaded.map_err(|error| {
                let message = bootstrap::describe(py, &error);
                if error
                    .get_type(py)
                    .name()
                    .is_ok_and(|n| n == "SystemCheckError")
                {
                    LoadError::SystemChecks(message)
                } else {
                    LoadError::Failed(message)
                }
            })?;
            let file_wrapper = py.get_type::<FileWrapper>().into_any();
            let template = environ::template(py, &options.script_name, file_wrapper)
                .map_err(|error| LoadError::Failed(bootstrap::describe(py, &error)))?;
            Ok(Application {
                callable: callable.unbind(),
                environ_template: template.unbind(),
                options,
            })
        })
    }
}
