//! A Django project in the embedded interpreter: settings, system checks, management
//! commands, migrations and the WSGI application, each a step of start-up.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::{bootstrap, Application, BridgeOptions, Interpreter, LoadError, PythonError};

/// A Django project whose settings are loaded and whose apps are ready
/// (`django.setup()` has run). Its methods take the GIL on the calling thread; call them
/// from a thread that runs no tokio tasks (start-up runs them on the main thread and on
/// the start-up thread).
#[derive(Debug)]
pub struct DjangoProject {
    /// Only [`Interpreter::setup_django`] makes one.
    _set_up: (),
}

/// The value of a `HURRICANE_*` Django setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// A bool (`HURRICANE_NO_METRICS = True`).
    Flag(bool),
    /// A number or a string (`HURRICANE_PORT = 8000`), as text.
    Text(String),
    /// A list or tuple of strings (`HURRICANE_COMMAND = ["migrate --noinput"]`).
    List(Vec<String>),
}

/// Where a Django project keeps its static and media files, read once at start-up so
/// that serving them never needs Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// The URL path of `STATIC_URL` (`"static/"` → `"/static/"`), `""` when unset.
    pub static_url: String,
    /// `STATIC_ROOT`, absolute.
    pub static_root: Option<PathBuf>,
    /// The URL path of `MEDIA_URL`, `""` when unset.
    pub media_url: String,
    /// `MEDIA_ROOT`, absolute.
    pub media_root: Option<PathBuf>,
    /// Where the static files storage's manifest (`staticfiles.json`) is, with a
    /// `STATIC_ROOT`.
    pub manifest: Option<PathBuf>,
    /// `DEBUG`.
    pub debug: bool,
    /// With `DEBUG` on and `django.contrib.staticfiles` installed: where `runserver`
    /// would look for static files.
    pub finders: Option<StaticFinders>,
}

/// The directories the staticfiles finders search, in their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFinders {
    /// `(prefix, directory)`: a `STATICFILES_DIRS` entry `("vendor", "/x")` serves `/x`
    /// under `STATIC_URL/vendor/`; the prefix is empty for the others.
    pub directories: Vec<(String, PathBuf)>,
    /// Finders whose files are not in a directory of theirs (their files are not served).
    pub unlisted: Vec<String>,
}

impl Interpreter {
    /// Imports `settings_module` and runs `django.setup()`.
    pub fn setup_django(&self, settings_module: &str) -> Result<DjangoProject, LoadError> {
        Python::attach(|py| {
            bootstrap::call(py, "setup_django", (settings_module,))
                .map_err(|error| LoadError::from_python(py, &error))?;
            Ok(DjangoProject { _set_up: () })
        })
    }
}

impl DjangoProject {
    /// The project's `HURRICANE_*` settings (all but `HURRICANE_VERSION`), by name.
    pub fn hurricane_settings(&self) -> Result<Vec<(String, SettingValue)>, LoadError> {
        Python::attach(|py| {
            let failed = |error: PyErr| LoadError::from_python(py, &error);
            let found: Vec<(String, String, Bound<'_, PyAny>)> =
                bootstrap::call(py, "hurricane_settings", ())
                    .and_then(|list| list.extract())
                    .map_err(failed)?;
            found
                .into_iter()
                .map(|(name, kind, value)| {
                    let value = match kind.as_str() {
                        "flag" => SettingValue::Flag(value.extract().map_err(failed)?),
                        "list" => SettingValue::List(value.extract().map_err(failed)?),
                        _ => SettingValue::Text(value.extract().map_err(failed)?),
                    };
                    Ok((name, value))
                })
                .collect()
        })
    }

    /// Those of `names` that the project's settings define, whatever their value.
    pub fn defined_settings(&self, names: &[&str]) -> Result<Vec<String>, LoadError> {
        Python::attach(|py| {
            bootstrap::call(py, "defined_settings", (names.to_vec(),))
                .and_then(|found| found.extract())
                .map_err(|error| LoadError::from_python(py, &error))
        })
    }

    /// The `HURRICANE_VERSION` setting, which webhooks report as `version`.
    pub fn version_setting(&self) -> Option<String> {
        Python::attach(|py| {
            bootstrap::call(py, "version_setting", ())
                .and_then(|v| v.extract())
                .ok()
                .flatten()
        })
    }

    /// Django's system checks, as `manage.py` runs them before a command: the report is
    /// printed, and errors fail.
    pub fn run_system_checks(&self) -> Result<(), LoadError> {
        Python::attach(|py| {
            bootstrap::call(py, "run_system_checks", ())
                .map(drop)
                .map_err(|error| LoadError::from_python(py, &error))
        })
    }

    /// The project's WSGI application (`WSGI_APPLICATION`).
    pub fn application(&self, options: BridgeOptions) -> Result<Application, LoadError> {
        Python::attach(|py| {
            let callable = bootstrap::call(py, "wsgi_application", ())
                .map_err(|error| LoadError::from_python(py, &error))?;
            Application::new(py, callable, options)
        })
    }

    /// Where static and media files are, for `--static` and `--media`.
    pub fn file_settings(&self) -> Result<FileSettings, LoadError> {
        type Found = (
            String,
            Option<PathBuf>,
            String,
            Option<PathBuf>,
            Option<PathBuf>,
            bool,
            Option<Vec<(String, PathBuf)>>,
            Option<Vec<String>>,
        );
        Python::attach(|py| {
            let found: Found = bootstrap::call(py, "file_settings", ())
                .and_then(|found| found.extract())
                .map_err(|error| LoadError::from_python(py, &error))?;
            let (static_url, static_root, media_url, media_root, manifest, debug, dirs, unlisted) =
                found;
            Ok(FileSettings {
                static_url,
                static_root,
                media_url,
                media_root,
                manifest,
                debug,
                finders: dirs.map(|directories| StaticFinders {
                    directories,
                    unlisted: unlisted.unwrap_or_default(),
                }),
            })
        })
    }

    /// Runs a management command, as `manage.py <argv>` would, in this process.
    pub fn run_command(&self, argv: &[String]) -> Result<(), PythonError> {
        Python::attach(|py| {
            bootstrap::call(py, "run_command", (argv.to_vec(),))
                .map(drop)
                .map_err(|error| PythonError::from_python(py, &error))
        })
    }

    /// Migrations not yet applied, on every database (`alias: app.name`).
    pub fn pending_migrations(&self) -> Result<Vec<String>, PythonError> {
        Python::attach(|py| {
            bootstrap::call(py, "pending_migrations", ())
                .and_then(|pending| pending.extract())
                .map_err(|error| PythonError::from_python(py, &error))
        })
    }

    /// `migrate --noinput` on every database.
    pub fn apply_migrations(&self) -> Result<(), PythonError> {
        Python::attach(|py| {
            bootstrap::call(py, "apply_migrations", ())
                .map(drop)
                .map_err(|error| PythonError::from_python(py, &error))
        })
    }
}
