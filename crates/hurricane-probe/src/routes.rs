//! Which endpoint a request path names.

use crate::{Probe, ProbePath, ProbePaths};

/// An endpoint of the probe service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Probe(Probe),
    Metrics,
}

impl ProbePaths {
    /// The endpoint `path` names. A single trailing slash is allowed (`/alive/`), as in
    /// django-hurricane; anything else (`/alive//`, `/alive/x`) names none.
    pub(crate) fn route(&self, path: &str) -> Option<Endpoint> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let routes = [
            (self.startup.as_str(), Endpoint::Probe(Probe::Startup)),
            (self.liveness.as_str(), Endpoint::Probe(Probe::Liveness)),
            (self.readiness.as_str(), Endpoint::Probe(Probe::Readiness)),
        ];
        if let Some((_, endpoint)) = routes.iter().find(|(p, _)| *p == path) {
            return Some(*endpoint);
        }
        (self.metrics.as_ref().map(ProbePath::as_str) == Some(path)).then_some(Endpoint::Metrics)
    }

    /// Whether `path` is served by the probe service.
    pub fn matches(&self, path: &str) -> bool {
        self.route(path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_trailing_slash_is_optional() {
        let paths = ProbePaths::default();
        assert_eq!(
            paths.route("/alive"),
            Some(Endpoint::Probe(Probe::Liveness))
        );
        assert_eq!(
            paths.route("/alive/"),
            Some(Endpoint::Probe(Probe::Liveness))
        );
        assert_eq!(paths.route("/alive//"), None);
        assert_eq!(paths.route("/alive/x"), None);
        assert_eq!(paths.route("/metrics/"), Some(Endpoint::Metrics));
        assert_eq!(paths.route("/"), None);
    }

    #[test]
    fn disabled_metrics_are_not_routed() {
        let paths = ProbePaths {
            metrics: None,
            ..ProbePaths::default()
        };
        assert_eq!(paths.route("/metrics"), None);
    }

    #[test]
    fn paths_are_normalised_like_django_hurricane() {
        assert_eq!(ProbePath::new("alive").as_str(), "/alive");
        assert_eq!(ProbePath::new("//health /live/").as_str(), "/health/live");
        assert_eq!(ProbePath::new("/ready").as_str(), "/ready");
    }
}
