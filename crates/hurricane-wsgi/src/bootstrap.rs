//! The Python half of start-up (`bootstrap.py`), and turning Python errors into messages.

use pyo3::prelude::*;
use pyo3::types::PyModule;

const SOURCE: &std::ffi::CStr = pyo3::ffi::c_str!(include_str!("bootstrap.py"));

const NAME: &str = "hurricane_bootstrap";

/// The module `hurricane_bootstrap` (`bootstrap.py`), loaded once: `describe` must see the
/// same `StartupError` class that the loading functions raised.
pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let loaded = py.import("sys")?.getattr("modules")?.get_item(NAME);
    if let Ok(module) = loaded {
        return Ok(module.cast_into::<PyModule>()?);
    }
    let module = PyModule::from_code(
        py,
        SOURCE,
        pyo3::ffi::c_str!("hurricane_bootstrap.py"),
        pyo3::ffi::c_str!("hurricane_bootstrap"),
    )?;
    // The code has no file: give tracebacks its lines as linecache would read them from
    // one (an entry without a modification time is never checked against the disk).
    let source = SOURCE.to_str().unwrap_or_default();
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let entry = (source.len(), py.None(), lines, "hurricane_bootstrap.py");
    py.import("linecache")?
        .getattr("cache")?
        .set_item("hurricane_bootstrap.py", entry)?;
    Ok(module)
}

/// Calls `function` of `bootstrap.py` with `args`.
pub(crate) fn call<'py>(
    py: Python<'py>,
    function: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    module(py)?.getattr(function)?.call1(args)
}

/// The user-facing message for a start-up exception (see `describe` in `bootstrap.py`).
pub(crate) fn describe(py: Python<'_>, error: &PyErr) -> String {
    module(py)
        .and_then(|m| {
            m.getattr("describe")?
                .call1((exception(py, error),))?
                .extract()
        })
        .unwrap_or_else(|_| error.to_string())
}

/// A start-up exception as the user sees it (see `report` in `bootstrap.py`).
pub(crate) struct Report {
    pub message: String,
    /// As Python prints it; `None` when the message is complete without it.
    pub traceback: Option<String>,
    /// Whether the message is Django's system check report.
    pub check_report: bool,
}

pub(crate) fn report(py: Python<'_>, error: &PyErr) -> Report {
    call(py, "report", (exception(py, error),))
        .and_then(|report| report.extract())
        .map(|(message, traceback, check_report)| Report {
            message,
            traceback,
            check_report,
        })
        .unwrap_or_else(|_| Report {
            message: error.to_string(),
            traceback: Some(traceback(py, error)),
            check_report: false,
        })
}

/// Whether `error` is one of Django's database errors.
pub(crate) fn is_database_error(py: Python<'_>, error: &PyErr) -> bool {
    call(py, "is_database_error", (exception(py, error),))
        .and_then(|answer| answer.extract())
        .unwrap_or(false)
}

/// The whole traceback of `error`, for the log.
pub(crate) fn traceback(py: Python<'_>, error: &PyErr) -> String {
    py.import("traceback")
        .and_then(|tb| {
            tb.getattr("format_exception")?
                .call1((exception(py, error),))
        })
        .and_then(|lines| {
            let lines: Vec<String> = lines.extract()?;
            Ok(lines.concat().trim_end().to_owned())
        })
        .unwrap_or_else(|_| error.to_string())
}

/// The exception object of `error` with its `__traceback__`, which PyO3 keeps apart.
fn exception<'py>(py: Python<'py>, error: &PyErr) -> Bound<'py, PyAny> {
    let value = error.value(py).clone().into_any();
    if let Some(traceback) = error.traceback(py) {
        let _ = value.setattr("__traceback__", traceback);
    }
    value
}
