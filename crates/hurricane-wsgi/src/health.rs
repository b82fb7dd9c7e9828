//! The Python side of the liveness and readiness probes.

use hurricane_probe::{CheckResult, HealthChecks, Probe, RequestQueue};
use pyo3::prelude::*;

use crate::{bootstrap, PoolStats};

/// The application's checks, run by `hurricane-probe`'s checker thread.
///
/// For a Django project: Django's system checks registered with the probe's tag
/// (`liveness` or `readiness`, deployment checks included) and `SELECT 1` on every
/// database. For any other WSGI application: only that the interpreter answers. Either
/// way the checks need the GIL, so a request that holds it (a runaway regular expression,
/// a C extension that never releases it) makes them miss the probe deadline, and the
/// probe fails, as it should.
#[derive(Debug, Clone, Copy)]
pub struct PythonHealth {
    django: bool,
}

impl PythonHealth {
    /// Django's tagged checks and the databases.
    pub fn django() -> Self {
        Self { django: true }
    }

    /// Only the interpreter's responsiveness (an application loaded with `--app`).
    pub fn interpreter() -> Self {
        Self { django: false }
    }
}

impl HealthChecks for PythonHealth {
    fn run(&self, probe: Probe) -> Vec<CheckResult> {
        // Takes the GIL: the one place the checker thread runs Python.
        Python::attach(|py| {
            if !self.django {
                return vec![CheckResult::passed("python")];
            }
            run_django_checks(py, probe).unwrap_or_else(|error| {
                let reason = bootstrap::describe(py, &error);
                tracing::error!(probe = probe.name(), %reason, "the probe's checks failed to run");
                vec![CheckResult::failed("checks", "check error", reason)]
            })
        })
    }

    /// The checker thread is attached to the interpreter for its whole life, and releases
    /// the GIL between runs: Django's connections are per thread, and the probes' own
    /// database connections should outlive one probe.
    fn around_thread(&self, thread_body: &mut (dyn FnMut() + Send)) {
        Python::attach(|py| py.detach(thread_body));
    }
}

fn run_django_checks(py: Python<'_>, probe: Probe) -> PyResult<Vec<CheckResult>> {
    let results: Vec<(String, Option<String>, String)> =
        bootstrap::call(py, "probe_checks", (probe.name(),))?.extract()?;
    Ok(results
        .into_iter()
        .map(|(name, body, reason)| match body {
            None => CheckResult::passed(name),
            Some(body) => CheckResult::failed(name, body, reason),
        })
        .collect())
}

impl RequestQueue for PoolStats {
    fn queued(&self) -> usize {
        PoolStats::queued(self)
    }

    fn timeouts(&self) -> u64 {
        PoolStats::timeouts(self)
    }

    fn stuck(&self) -> usize {
        PoolStats::stuck(self)
    }
}
