//! A probe's answer: the checks it ran, its status and its body.

use http::StatusCode;

use crate::{CheckResult, Probe};

/// One line of a probe's report: a check and the status its failure gives the probe.
#[derive(Debug)]
struct Line {
    result: CheckResult,
    status: StatusCode,
}

/// The checks of one probe request, in the order their failures decide the answer.
#[derive(Debug)]
pub(crate) struct ProbeReport {
    probe: Probe,
    lines: Vec<Line>,
    /// The body when every check passes.
    success_body: String,
}

impl ProbeReport {
    pub fn new(probe: Probe) -> Self {
        Self {
            probe,
            lines: Vec::new(),
            success_body: String::new(),
        }
    }

    /// Adds a check whose failure answers with `status`.
    pub fn push(&mut self, result: CheckResult, status: StatusCode) {
        self.lines.push(Line { result, status });
    }

    pub fn extend(&mut self, results: &[CheckResult], status: StatusCode) {
        for result in results {
            self.push(result.clone(), status);
        }
    }

    pub fn set_success_body(&mut self, body: String) {
        self.success_body = body;
    }

    pub fn passing(&self) -> bool {
        self.first_failure().is_none()
    }

    /// Why the probe fails: the first failing check and its reason.
    pub fn failure_reason(&self) -> Option<String> {
        self.first_failure().map(|line| {
            let reason = line
                .result
                .failure
                .as_ref()
                .map_or("", |f| f.reason.as_str());
            format!("{}: {}", line.result.name, one_line(reason))
        })
    }

    fn first_failure(&self) -> Option<&Line> {
        self.lines.iter().find(|line| line.result.failure.is_some())
    }

    /// The status and body: the first failing check's, or 200 and the success body.
    /// With `verbose`, the body lists every check and a summary instead, as
    /// kube-apiserver's `?verbose` does; the status is the same.
    pub fn answer(&self, verbose: bool) -> (StatusCode, String) {
        let (status, body) = match self.first_failure() {
            Some(line) => (
                line.status,
                line.result
                    .failure
                    .as_ref()
                    .map(|f| f.body.clone())
                    .unwrap_or_default(),
            ),
            None => (StatusCode::OK, self.success_body.clone()),
        };
        if !verbose {
            return (status, body);
        }
        let mut text = String::new();
        for line in &self.lines {
            match &line.result.failure {
                None => text.push_str(&format!("[+]{} ok\n", line.result.name)),
                Some(failure) => text.push_str(&format!(
                    "[-]{} failed: {}\n",
                    line.result.name,
                    one_line(&failure.reason)
                )),
            }
        }
        let verdict = if self.passing() { "passed" } else { "failed" };
        text.push_str(&format!("{} check {verdict}\n", self.probe.name()));
        (status, text)
    }
}

/// `reason` on one line, so that every check stays one line of `?verbose` output.
fn one_line(reason: &str) -> String {
    reason.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_decides_and_verbose_lists_every_check() {
        let mut report = ProbeReport::new(Probe::Liveness);
        report.push(
            CheckResult::passed("database"),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        report.push(
            CheckResult::failed(
                "liveness-checks",
                "check error",
                "x.E001 broken\n\tHINT: fix",
            ),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        report.push(
            CheckResult::failed("max-lifetime", "", "too old"),
            StatusCode::BAD_REQUEST,
        );
        assert_eq!(
            report.answer(false),
            (StatusCode::INTERNAL_SERVER_ERROR, "check error".into())
        );
        let (status, body) = report.answer(true);
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            "[+]database ok\n[-]liveness-checks failed: x.E001 broken HINT: fix\n\
             [-]max-lifetime failed: too old\nliveness check failed\n"
        );
    }

    #[test]
    fn all_passing_answers_the_success_body() {
        let mut report = ProbeReport::new(Probe::Readiness);
        report.push(
            CheckResult::passed("request-queue"),
            StatusCode::BAD_REQUEST,
        );
        report.set_success_body(String::new());
        assert_eq!(report.answer(false), (StatusCode::OK, String::new()));
        assert_eq!(
            report.answer(true).1,
            "[+]request-queue ok\nreadiness check passed\n"
        );
    }
}
