//! The pod's probe port: hurricane-probe's service answering from the supervisor's
//! view of its processes, and `/metrics` summed over them.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use hurricane_core::{Handler, ResponseBody};
use hurricane_probe::{Probe, ProbeService};

use super::shared::Shared;

/// The `Content-Type` of the Prometheus text format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) struct PodProbes {
    pub service: ProbeService,
    pub shared: Arc<Shared>,
}

impl PodProbes {
    fn metrics(&self) -> Response<ResponseBody> {
        // The probes as the service last answered them: its rule, not a second one.
        let passing = [Probe::Startup, Probe::Liveness, Probe::Readiness]
            .map(|probe| (probe, self.service.passing(probe)));
        let text = self.shared.render_metrics(passing);
        let mut response = Response::new(ResponseBody::full(Bytes::from(text)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        );
        response
    }
}

impl Handler for PodProbes {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let metrics = self.shared.config.probes.paths.metrics.as_ref();
        if metrics.is_some_and(|path| path.as_str() == request.uri().path()) {
            return self.metrics();
        }
        self.service.call(request).await
    }
}
