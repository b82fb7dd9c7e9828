//! Starting CPython inside the hurricane process.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use pyo3::ffi;
use pyo3::prelude::*;

use crate::InterpreterError;

/// Which Python installation the embedded interpreter should behave as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnvironment {
    /// The `python3` whose `sys.prefix` (and so whose site-packages) we take on. `None`
    /// leaves the choice to CPython's defaults.
    pub executable: Option<PathBuf>,
    /// The virtualenv it belongs to, if any.
    pub virtualenv: Option<PathBuf>,
}

impl PythonEnvironment {
    /// The active virtualenv (`VIRTUAL_ENV`), else the `python3` found on `PATH`.
    pub fn detect() -> Result<Self, InterpreterError> {
        if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            let venv = PathBuf::from(venv);
            let executable = ["python3", "python"]
                .iter()
                .map(|name| venv.join("bin").join(name))
                .find(|path| path.exists())
                .ok_or_else(|| InterpreterError::VenvWithoutPython { venv: venv.clone() })?;
            check_venv_version(&venv)?;
            return Ok(Self {
                executable: Some(executable),
                virtualenv: Some(venv),
            });
        }
        let executable = find_on_path("python3");
        // A virtualenv put first on PATH without being "activated" (common in containers).
        let virtualenv = executable
            .as_deref()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .filter(|dir| dir.join("pyvenv.cfg").is_file())
            .map(Path::to_path_buf);
        if let Some(venv) = &virtualenv {
            check_venv_version(venv)?;
        }
        Ok(Self {
            executable,
            virtualenv,
        })
    }
}

/// The running, embedded interpreter. There is one per process.
#[derive(Debug)]
pub struct Interpreter {
    _private: (),
}

impl Interpreter {
    /// Initialises CPython as if started as `environment.executable`, so that its
    /// virtualenv's site-packages are on `sys.path`; then puts `paths` first on `sys.path`.
    /// Files under `paths` are the project's: start-up errors point at the innermost
    /// frame among them.
    ///
    /// CPython installs no signal handlers (hurricane owns SIGTERM and SIGINT) and its
    /// stdout and stderr are unbuffered, so `print` in a view shows up at once in container
    /// logs. The GIL is released before returning.
    pub fn start(
        environment: &PythonEnvironment,
        paths: &[PathBuf],
    ) -> Result<Self, InterpreterError> {
        let executable = environment.executable.as_deref().map(c_path).transpose()?;
        let program = c_path(Path::new("hurricane"))?;
        // SAFETY: the PyConfig is initialised by PyConfig_InitPythonConfig before any use,
        // only passed to the documented PyConfig_* setters, and cleared once. The strings
        // handed to CPython outlive the calls (CPython copies them).
        unsafe {
            let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
            ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
            let mut config = config.assume_init();
            config.install_signal_handlers = 0;
            config.buffered_stdio = 0;
            config.parse_argv = 0;
            let mut argv = [program.as_ptr()];
            let mut status = ffi::PyConfig_SetBytesArgv(&mut config, 1, argv.as_mut_ptr());
            if ffi::PyStatus_Exception(status) == 0 {
                if let Some(executable) = &executable {
                    let field = std::ptr::addr_of_mut!(config.executable);
                    status = ffi::PyConfig_SetBytesString(&mut config, field, executable.as_ptr());
                    if ffi::PyStatus_Exception(status) == 0 {
                        let field = std::ptr::addr_of_mut!(config.program_name);
                        status =
                            ffi::PyConfig_SetBytesString(&mut config, field, executable.as_ptr());
                    }
                }
            }
            if ffi::PyStatus_Exception(status) == 0 {
                status = ffi::Py_InitializeFromConfig(&config);
            }
            ffi::PyConfig_Clear(&mut config);
            if ffi::PyStatus_Exception(status) != 0 {
                let message = if status.err_msg.is_null() {
                    "unknown error".to_owned()
                } else {
                    CStr::from_ptr(status.err_msg)
                        .to_string_lossy()
                        .into_owned()
                };
                return Err(InterpreterError::Startup(message));
            }
            // Initialisation leaves this thread holding the GIL; hand it back so that
            // `Python::attach` works from any thread.
            ffi::PyEval_SaveThread();
        }
        Self::adopt(paths)
    }

    /// Takes on the interpreter of the Python process hurricane runs in as an extension
    /// module (`python manage.py serve`): that process initialised Python and owns its
    /// signal handlers and standard streams. Puts `paths` first on `sys.path` as
    /// [`Interpreter::start`] does. The calling thread must not hold the GIL.
    pub fn adopt(paths: &[PathBuf]) -> Result<Self, InterpreterError> {
        Python::attach(|py| -> PyResult<()> {
            let sys_path = py.import("sys")?.getattr("path")?;
            for path in paths.iter().rev() {
                let path = path.to_string_lossy();
                if !sys_path.contains(path.as_ref())? {
                    sys_path.call_method1("insert", (0, path.as_ref()))?;
                }
            }
            let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            crate::bootstrap::call(py, "set_project_paths", (paths,))?;
            Ok(())
        })
        .map_err(|error| InterpreterError::Startup(error.to_string()))?;
        Ok(Self { _private: () })
    }
}

/// `major.minor` of the libpython this binary is linked against.
fn linked_version() -> String {
    // SAFETY: Py_GetVersion returns a static NUL-terminated string and may be called before
    // the interpreter is initialised.
    let full = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    major_minor(&full).unwrap_or_default()
}

fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next().filter(|p| !p.is_empty())?;
    let minor = parts.next().filter(|p| !p.is_empty())?;
    Some(format!("{major}.{minor}"))
}

/// Refuses a virtualenv made from another Python version: its site-packages hold
/// extensions built for that version, which would crash or fail to import.
fn check_venv_version(venv: &Path) -> Result<(), InterpreterError> {
    let Ok(config) = std::fs::read_to_string(venv.join("pyvenv.cfg")) else {
        return Ok(());
    };
    let venv_version = config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| major_minor(value))?
    });
    let linked_version = linked_version();
    match venv_version {
        Some(venv_version) if venv_version != linked_version => {
            Err(InterpreterError::VersionMismatch {
                venv: venv.to_path_buf(),
                venv_version,
                linked_version,
            })
        }
        _ => Ok(()),
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn c_path(path: &Path) -> Result<CString, InterpreterError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| InterpreterError::NulInPath(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::major_minor;

    #[test]
    fn major_minor_of_version_strings() {
        assert_eq!(
            major_minor("3.11.7 (main, Dec  4 2023)").as_deref(),
            Some("3.11")
        );
        assert_eq!(major_minor(" 3.12.1").as_deref(), Some("3.12"));
        assert_eq!(major_minor("garbage"), None);
    }
}
