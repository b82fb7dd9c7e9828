//! The HTTP side: answering probe and metrics requests.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hurricane_core::{Handler, RequestObserver, RequestRecord, ResponseBody};

use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::report::ProbeReport;
use crate::routes::Endpoint;
use crate::runner::TimedOut;
use crate::{
    resident_memory_bytes, CheckResult, CheckRunner, Lifecycle, Metrics, Probe, ProbeConfig,
    ProbePaths, RequestQueue,
};
#[cfg(feature = "webhook")]
use crate::{WebhookStatus, Webhooks};

const PLAIN_TEXT: &str = "text/plain; charset=utf-8";
const ALLOWED_METHODS: &str = "GET, HEAD, POST";

/// Answers the startup, liveness and readiness probes and the metrics, from Rust: a probe
/// never waits for a Python thread, and waits for the application's own checks at most
/// [`ProbeConfig::probe_timeout`].
///
/// Serve it on a listener of its own (the default, `--probe-port`), or ahead of the
/// application with [`WithProbes`].
#[derive(Clone)]
pub struct ProbeService {
    inner: Arc<Inner>,
}

struct Inner {
    config: ProbeConfig,
    lifecycle: Arc<Lifecycle>,
    metrics: Arc<Metrics>,
    application: OnceLock<Application>,
    #[cfg(feature = "webhook")]
    webhooks: OnceLock<Webhooks>,
    /// Whether liveness and readiness passed when last answered; `None` before the first
    /// answer after start-up. A change is what sends a webhook.
    liveness_passing: Mutex<Option<bool>>,
    readiness_passing: Mutex<Option<bool>>,
}

/// What the probes need from the loaded application.
struct Application {
    checks: CheckRunner,
    queue: Arc<dyn RequestQueue>,
}

impl std::fmt::Debug for ProbeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeService")
            .field("config", &self.inner.config)
            .field("lifecycle", &self.inner.lifecycle)
            .finish_non_exhaustive()
    }
}

impl ProbeService {
    /// The probes and `/metrics`, answering from `lifecycle` and `metrics`; the
    /// application's own checks come with [`ProbeService::attach_application`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hurricane_core::Handler;
    /// use hurricane_probe::{Lifecycle, Metrics, ProbeConfig, ProbeService};
    ///
    /// let lifecycle = Arc::new(Lifecycle::new());
    /// let metrics = Arc::new(Metrics::new()?);
    /// let probes = ProbeService::new(ProbeConfig::default(), lifecycle.clone(), metrics);
    ///
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let status = |path: &str| -> Result<u16, http::Error> {
    ///     let request = http::Request::get(path).body(bytes::Bytes::new())?;
    ///     Ok(runtime.block_on(probes.call(request)).status().as_u16())
    /// };
    /// assert_eq!(status("/startup")?, 400);
    /// lifecycle.mark_started();
    /// assert_eq!(status("/startup")?, 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(config: ProbeConfig, lifecycle: Arc<Lifecycle>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                lifecycle,
                metrics,
                application: OnceLock::new(),
                #[cfg(feature = "webhook")]
                webhooks: OnceLock::new(),
                liveness_passing: Mutex::new(None),
                readiness_passing: Mutex::new(None),
            }),
        }
    }

    /// Sends liveness and readiness webhooks from now on, when their state changes.
    #[cfg(feature = "webhook")]
    pub fn send_webhooks(&self, webhooks: Webhooks) {
        let _ = self.inner.webhooks.set(webhooks);
    }

    /// Hands the probes the loaded application's checks and request queue. Until then,
    /// and until [`Lifecycle::mark_started`], the probes answer 400.
    pub fn attach_application(&self, checks: CheckRunner, queue: Arc<dyn RequestQueue>) {
        self.inner.metrics.count_timeouts_of(Arc::clone(&queue));
        let _ = self.inner.application.set(Application { checks, queue });
    }

    /// The paths the service answers.
    pub fn paths(&self) -> &ProbePaths {
        &self.inner.config.paths
    }

    async fn respond(&self, request: &Request<Bytes>) -> Response<ResponseBody> {
        let Some(endpoint) = self.paths().route(request.uri().path()) else {
            return text_response(StatusCode::NOT_FOUND, "not found\n".into(), request);
        };
        if !matches!(*request.method(), Method::GET | Method::HEAD | Method::POST) {
            let mut response = text_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
                request,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            return response;
        }
        match endpoint {
            Endpoint::Metrics => self.metrics(request),
            Endpoint::Probe(probe) => {
                let report = self.evaluate(probe).await;
                if probe != Probe::Startup && self.inner.lifecycle.startup_seconds().is_some() {
                    self.record_state(probe, &report);
                }
                let (status, body) = report.answer(wants_verbose(request));
                text_response(status, body, request)
            }
        }
    }

    /// Whether `probe` passed when last answered (the startup probe: whether start-up
    /// is over); `false` before the first answer. What `hurricane_probe_passing` reports.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hurricane_core::Handler;
    /// use hurricane_probe::{Lifecycle, Metrics, Probe, ProbeConfig, ProbeService};
    ///
    /// let lifecycle = Arc::new(Lifecycle::new());
    /// let metrics = Arc::new(Metrics::new()?);
    /// let probes = ProbeService::new(ProbeConfig::default(), lifecycle.clone(), metrics);
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let ask_ready = || -> Result<(), http::Error> {
    ///     let request = http::Request::get("/ready").body(bytes::Bytes::new())?;
    ///     runtime.block_on(probes.call(request));
    ///     Ok(())
    /// };
    /// lifecycle.mark_started();
    /// assert!(probes.passing(Probe::Startup));
    /// assert!(!probes.passing(Probe::Readiness), "not answered yet");
    /// ask_ready()?;
    /// assert!(probes.passing(Probe::Readiness));
    /// lifecycle.start_draining();
    /// assert!(probes.passing(Probe::Readiness), "as last answered");
    /// ask_ready()?;
    /// assert!(!probes.passing(Probe::Readiness));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn passing(&self, probe: Probe) -> bool {
        let inner = &self.inner;
        let last = match probe {
            Probe::Startup => return inner.lifecycle.startup_seconds().is_some(),
            Probe::Liveness => &inner.liveness_passing,
            Probe::Readiness => &inner.readiness_passing,
        };
        let last = *last.lock().unwrap_or_else(|p| p.into_inner());
        last.unwrap_or(false)
    }

    fn metrics(&self, request: &Request<Bytes>) -> Response<ResponseBody> {
        let inner = &self.inner;
        inner
            .metrics
            .set_probe_passing(Probe::Startup, self.passing(Probe::Startup));
        match inner.metrics.render(self.queued()) {
            Ok(text) => response(StatusCode::OK, METRICS_CONTENT_TYPE, text.into(), request),
            Err(error) => {
                tracing::error!(%error, "cannot render the metrics");
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot render the metrics\n".into(),
                    request,
                )
            }
        }
    }

    /// The text `/metrics` answers now; `None` if it cannot be rendered (logged).
    pub fn metrics_text(&self) -> Option<String> {
        let inner = &self.inner;
        match inner.metrics.render(self.queued()) {
            Ok(text) => String::from_utf8(text).ok(),
            Err(error) => {
                tracing::error!(%error, "cannot render the metrics");
                None
            }
        }
    }

    fn queued(&self) -> usize {
        self.inner
            .application
            .get()
            .map_or(0, |app| app.queue.queued())
    }

    /// Runs the checks of `probe`.
    async fn evaluate(&self, probe: Probe) -> ProbeReport {
        let inner = &self.inner;
        let mut report = ProbeReport::new(probe);
        let Some(startup_seconds) = inner.lifecycle.startup_seconds() else {
            // As django-hurricane: every probe is 400 with an empty body until start-up
            // is over.
            report.push(
                CheckResult::failed("startup", "", "start-up is not finished"),
                StatusCode::BAD_REQUEST,
            );
            return report;
        };
        match probe {
            Probe::Startup => {
                report.push(CheckResult::passed("startup"), StatusCode::BAD_REQUEST);
                report.set_success_body(format!("Startup was finished {startup_seconds}"));
            }
            Probe::Liveness => {
                self.application_checks(probe, &mut report).await;
                self.lifetime_and_memory(&mut report);
                let average = inner.metrics.average_response_ms();
                report.set_success_body(if average > 0.0 {
                    format!(
                        "Average response time: {average:.2}ms Request queue size: {} Rx",
                        self.queued()
                    )
                } else {
                    "alive".into()
                });
            }
            Probe::Readiness => {
                if inner.lifecycle.is_draining() {
                    report.push(
                        CheckResult::failed(
                            "shutdown",
                            "shutting down",
                            "the server is shutting down",
                        ),
                        StatusCode::SERVICE_UNAVAILABLE,
                    );
                } else {
                    report.push(
                        CheckResult::passed("shutdown"),
                        StatusCode::SERVICE_UNAVAILABLE,
                    );
                }
                self.application_checks(probe, &mut report).await;
                let queued = self.queued();
                let limit = inner.config.req_queue_len;
                report.push(
                    if queued >= limit {
                        let message = format!("request queue length {queued} >= {limit}");
                        CheckResult::failed("request-queue", message.clone(), message)
                    } else {
                        CheckResult::passed("request-queue")
                    },
                    StatusCode::BAD_REQUEST,
                );
            }
        }
        report
    }

    /// The application's own checks, run off the request path with a deadline.
    async fn application_checks(&self, probe: Probe, report: &mut ProbeReport) {
        let Some(application) = self.inner.application.get() else {
            return;
        };
        let deadline = self.inner.config.probe_timeout;
        match application.checks.results(probe, deadline).await {
            Ok(results) => report.extend(&results, StatusCode::INTERNAL_SERVER_ERROR),
            Err(TimedOut) => {
                let message = format!("checks did not finish within {}s", deadline.as_secs_f64());
                tracing::warn!(
                    probe = probe.name(),
                    deadline_s = deadline.as_secs_f64(),
                    "the application's checks did not finish in time (is a request holding the GIL?)"
                );
                report.push(
                    CheckResult::failed("python", message.clone(), message),
                    StatusCode::INTERNAL_SERVER_ERROR,
                );
            }
        }
    }

    /// `--max-lifetime` and `--max-memory`: planned restarts, so 400 as django-hurricane's
    /// max-lifetime answers, not 500.
    fn lifetime_and_memory(&self, report: &mut ProbeReport) {
        let config = &self.inner.config;
        if let Some(limit) = config.max_lifetime {
            let served = self.inner.metrics.requests_served();
            report.push(
                if served > limit {
                    CheckResult::failed(
                        "max-lifetime",
                        "",
                        format!("{served} requests served, more than --max-lifetime {limit}"),
                    )
                } else {
                    CheckResult::passed("max-lifetime")
                },
                StatusCode::BAD_REQUEST,
            );
        }
        if let Some(limit_mb) = config.max_memory_mb {
            let used_mb = resident_memory_bytes().map_or(0, |bytes| bytes / (1024 * 1024));
            report.push(
                if used_mb > limit_mb {
                    let message =
                        format!("memory usage {used_mb} MB is above --max-memory {limit_mb} MB");
                    CheckResult::failed("max-memory", message.clone(), message)
                } else {
                    CheckResult::passed("max-memory")
                },
                StatusCode::BAD_REQUEST,
            );
        }
    }

    /// Remembers whether `probe` passes; a change is logged, shown in the metrics and
    /// sent as a webhook (one per change).
    fn record_state(&self, probe: Probe, report: &ProbeReport) {
        let inner = &self.inner;
        let passing = report.passing();
        let slot = match probe {
            Probe::Readiness => &inner.readiness_passing,
            _ => &inner.liveness_passing,
        };
        let previous = {
            let mut last = slot.lock().unwrap_or_else(|p| p.into_inner());
            last.replace(passing)
        };
        if previous == Some(passing) {
            return;
        }
        inner.metrics.set_probe_passing(probe, passing);
        if passing {
            tracing::info!(probe = probe.name(), "{} probe passes", probe.name());
        } else {
            let reason = report.failure_reason().unwrap_or_default();
            tracing::warn!(probe = probe.name(), %reason, "{} probe fails: {reason}", probe.name());
        }
        #[cfg(feature = "webhook")]
        if let Some(webhooks) = inner.webhooks.get() {
            let status = if passing {
                WebhookStatus::Succeeded
            } else {
                WebhookStatus::Failed
            };
            webhooks.send(probe, status, None);
        }
    }
}

impl Handler for ProbeService {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        self.respond(&request).await
    }
}

/// `?verbose`, `?verbose=1` or `?x&verbose`: the presence of the key is enough.
fn wants_verbose(request: &Request<Bytes>) -> bool {
    request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("verbose"))
    })
}

fn text_response(
    status: StatusCode,
    body: String,
    request: &Request<Bytes>,
) -> Response<ResponseBody> {
    response(status, PLAIN_TEXT, body.into(), request)
}

/// A probe service response: `body` (for HEAD only its length), uncacheable.
fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    request: &Request<Bytes>,
) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Empty);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A cached probe answer would tell the kubelet about the past.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if request.method() != Method::HEAD {
        *response.body_mut() = ResponseBody::full(body);
    }
    response
}

/// Serves the probes ahead of an application on the same port (`--probe-port` equal to
/// `--port`): requests for the probe and metrics paths go to the [`ProbeService`],
/// everything else to the application.
#[derive(Debug, Clone)]
pub struct WithProbes<A> {
    probes: ProbeService,
    application: A,
}

impl<A> WithProbes<A> {
    /// `application` behind the probes: requests for the probe and metrics paths go to
    /// `probes`.
    pub fn new(probes: ProbeService, application: A) -> Self {
        Self {
            probes,
            application,
        }
    }
}

impl<A: Handler> Handler for WithProbes<A> {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        if self.probes.paths().matches(request.uri().path()) {
            self.probes.respond(&request).await
        } else {
            self.application.call(request).await
        }
    }
}

/// An observer that ignores probe and metrics requests: with the probes on the
/// application's port, they are neither access-logged (unless asked for) nor counted.
pub struct ExceptProbes {
    paths: ProbePaths,
    inner: Arc<dyn RequestObserver>,
}

impl ExceptProbes {
    /// `inner`, told about every request except those for `paths`.
    pub fn new(paths: ProbePaths, inner: Arc<dyn RequestObserver>) -> Self {
        Self { paths, inner }
    }
}

impl RequestObserver for ExceptProbes {
    fn on_request_start(&self) {
        self.inner.on_request_start();
    }

    fn on_request_end(&self, record: &RequestRecord) {
        if !self.paths.matches(record.path()) {
            self.inner.on_request_end(record);
        }
    }
}
