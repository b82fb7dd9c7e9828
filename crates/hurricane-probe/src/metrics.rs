//! Request metrics and the Prometheus text format.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use http::Method;
use hurricane_core::{RequestObserver, RequestRecord};
use prometheus::core::Desc;
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::{Probe, RequestQueue};

/// At most this many `(method, path)` label sets in `path_requests_total`; requests for
/// further paths are counted under `path="__other__"`, so that a crawler or a scanner
/// cannot grow the metrics without bound.
pub const MAX_PATH_LABELS: usize = 100;

/// The `path` label of requests beyond [`MAX_PATH_LABELS`].
pub(crate) const OTHER_PATH: &str = "__other__";

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// django-hurricane's metric families, the state of the probes and the process metrics,
/// in one registry.
///
/// As a [`RequestObserver`] on the application's server it counts every application
/// request; probe and metrics requests are not counted.
pub struct Metrics {
    registry: Registry,
    requests: IntCounter,
    response_time: Histogram,
    response_size: Histogram,
    average_ms: Gauge,
    queue: IntGauge,
    paths: PathRequests,
    info: IntGaugeVec,
    probe_passing: IntGaugeVec,
    /// Where `request_timeouts_total` and `hurricane_stuck_requests` are read from.
    application: Arc<OnceLock<Arc<dyn RequestQueue>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("requests", &self.requests.get())
            .finish_non_exhaustive()
    }
}

/// The metrics could not be set up (a bug: the families are fixed).
///
/// Error convention of the hurricane crates: a message includes the text of the error
/// that caused it, and that error is not chained as its `source()` too, so printing an
/// error prints every cause exactly once.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the metrics: {0}")]
pub struct MetricsError(prometheus::Error);

// Not `#[from]`: that would also chain the error as `source()`, printed twice.
impl From<prometheus::Error> for MetricsError {
    fn from(error: prometheus::Error) -> Self {
        Self(error)
    }
}

/// The labels of `hurricane_info`, known once start-up is over.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// hurricane's version.
    pub version: String,
    /// How long start-up took, in seconds.
    pub startup_seconds: f64,
    /// The application's port.
    pub server_port: u16,
    /// The probes' own port, if they have one.
    pub probe_port: Option<u16>,
    /// Whether static files are served from Rust.
    pub serve_static: bool,
    /// Whether media files are served from Rust.
    pub serve_media: bool,
    /// The start-up management commands, joined with `; `.
    pub commands: String,
}

impl Metrics {
    /// The metric families, registered, with process metrics.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let requests = IntCounter::new(
            "request_counter_total",
            "Requests answered by the application (not probes or metrics).",
        )?;
        let response_time = Histogram::with_opts(
            HistogramOpts::new(
                "response_time_seconds",
                "Time from a request's arrival to the end of its response, in seconds.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ]),
        )?;
        let response_size = Histogram::with_opts(
            HistogramOpts::new("response_size_bytes", "Response body sizes in bytes.")
                .buckets(vec![100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]),
        )?;
        let average_ms = Gauge::new(
            "response_time_average",
            "Mean response time of the application's requests, in milliseconds (as django-hurricane reports it).",
        )?;
        let queue = IntGauge::new(
            "request_queue_length",
            "Requests waiting for a Python thread.",
        )?;
        let paths = IntCounterVec::new(
            Opts::new(
                "path_requests_total",
                "Requests by method and path (at most 100 label sets; further paths count as __other__).",
            ),
            &["method", "path"],
        )?;
        let info = IntGaugeVec::new(
            Opts::new("hurricane_info", "The server's version and configuration."),
            &[
                "version",
                "startup_time_seconds",
                "server_port",
                "serve_static",
                "serve_media",
                "probe_port",
                "commands",
            ],
        )?;
        let probe_passing = IntGaugeVec::new(
            Opts::new(
                "hurricane_probe_passing",
                "1 while a probe passes (as last answered), 0 while it fails.",
            ),
            &["probe"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(response_time.clone()))?;
        registry.register(Box::new(response_size.clone()))?;
        registry.register(Box::new(average_ms.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(paths.clone()))?;
        registry.register(Box::new(info.clone()))?;
        registry.register(Box::new(probe_passing.clone()))?;
        registry.register(Box::new(ProcessMetrics::new()))?;
        let application = Arc::new(OnceLock::new());
        registry.register(Box::new(TimeoutMetrics::new(Arc::clone(&application))?))?;
        for probe in [Probe::Startup, Probe::Liveness, Probe::Readiness] {
            probe_passing.with_label_values(&[probe.name()]).set(0);
        }
        Ok(Self {
            registry,
            requests,
            response_time,
            response_size,
            average_ms,
            queue,
            paths: PathRequests {
                family: paths,
                known: Mutex::default(),
            },
            info,
            probe_passing,
            application,
        })
    }

    /// Reads `request_timeouts_total` and `hurricane_stuck_requests` from `queue` from
    /// now on (they are 0 until then).
    pub fn count_timeouts_of(&self, queue: Arc<dyn RequestQueue>) {
        let _ = self.application.set(queue);
    }

    /// Application requests answered so far (for `--max-lifetime`).
    pub fn requests_served(&self) -> u64 {
        self.requests.get()
    }

    /// The mean response time in milliseconds, 0 before the first request.
    pub fn average_response_ms(&self) -> f64 {
        let count = self.response_time.get_sample_count();
        if count == 0 {
            return 0.0;
        }
        self.response_time.get_sample_sum() / count as f64 * 1000.0
    }

    /// Publishes `hurricane_info` (once start-up is over).
    pub fn set_info(&self, info: &ServerInfo) {
        let startup = format!("{:.5}", info.startup_seconds);
        let server_port = info.server_port.to_string();
        let probe_port = info.probe_port.map(|p| p.to_string()).unwrap_or_default();
        self.info
            .with_label_values(&[
                info.version.as_str(),
                &startup,
                &server_port,
                bool_label(info.serve_static),
                bool_label(info.serve_media),
                &probe_port,
                &info.commands,
            ])
            .set(1);
    }

    pub(crate) fn set_probe_passing(&self, probe: Probe, passing: bool) {
        self.probe_passing
            .with_label_values(&[probe.name()])
            .set(i64::from(passing));
    }

    /// The text exposition format (0.0.4), with the gauges computed on read brought up
    /// to date first.
    pub(crate) fn render(&self, queued: usize) -> Result<Vec<u8>, prometheus::Error> {
        self.average_ms.set(self.average_response_ms());
        self.queue.set(i64::try_from(queued).unwrap_or(i64::MAX));
        // promtool's lint says of `request_counter_total` "metric name should not include
        // type 'counter'" whatever its type; the name is django-hurricane's, which
        // dashboards and alerts query, so it stays (the one finding the tests allow).
        let mut text = Vec::with_capacity(8 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(text)
    }
}

/// The standard `process_*` metrics of prometheus' `ProcessCollector`, with
/// `process_cpu_seconds_total` in fractions of a second: the collector counts whole
/// seconds, which makes the CPU rate of a quiet pod a staircase of zeros and ones.
struct ProcessMetrics {
    standard: prometheus::process_collector::ProcessCollector,
}

impl ProcessMetrics {
    fn new() -> Self {
        Self {
            standard: prometheus::process_collector::ProcessCollector::for_self(),
        }
    }

    /// User plus system CPU time of this process, in seconds.
    fn cpu_seconds() -> Option<f64> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
    }
}

impl prometheus::core::Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.standard.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.standard.collect();
        let cpu = Self::cpu_seconds();
        for family in &mut families {
            if family.name() != "process_cpu_seconds_total" {
                continue;
            }
            if let (Some(seconds), Some(metric)) = (cpu, family.mut_metric().first_mut()) {
                let mut counter = prometheus::proto::Counter::default();
                counter.set_value(seconds);
                metric.set_counter(counter);
            }
        }
        families
    }
}

/// `request_timeouts_total` and `hurricane_stuck_requests`, read from the application's
/// [`RequestQueue`] at each scrape: the application keeps the counts, as it does the
/// queue's length.
struct TimeoutMetrics {
    application: Arc<OnceLock<Arc<dyn RequestQueue>>>,
    timeouts: Desc,
    stuck: Desc,
}

impl TimeoutMetrics {
    fn new(application: Arc<OnceLock<Arc<dyn RequestQueue>>>) -> Result<Self, prometheus::Error> {
        Ok(Self {
            application,
            timeouts: Desc::new(
                "request_timeouts_total".into(),
                "Requests answered 504 because the application did not start its response within --timeout.".into(),
                Vec::new(),
                HashMap::new(),
            )?,
            stuck: Desc::new(
                "hurricane_stuck_requests".into(),
                "Requests that timed out whose Python call has not returned yet; each holds a Python thread.".into(),
                Vec::new(),
                HashMap::new(),
            )?,
        })
    }
}

impl prometheus::core::Collector for TimeoutMetrics {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.timeouts, &self.stuck]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (timeouts, stuck) = self
            .application
            .get()
            .map_or((0, 0), |queue| (queue.timeouts(), queue.stuck()));
        let mut counter = prometheus::proto::Counter::default();
        counter.set_value(timeouts as f64);
        let mut timeouts = prometheus::proto::Metric::default();
        timeouts.set_counter(counter);
        let mut gauge = prometheus::proto::Gauge::default();
        gauge.set_value(stuck as f64);
        vec![
            family(&self.timeouts, MetricType::COUNTER, timeouts),
            family(
                &self.stuck,
                MetricType::GAUGE,
                prometheus::proto::Metric::from_gauge(gauge),
            ),
        ]
    }
}

/// The family of `desc`, of one unlabelled `metric`.
fn family(desc: &Desc, kind: MetricType, metric: prometheus::proto::Metric) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(desc.fq_name.clone());
    family.set_help(desc.help.clone());
    family.set_field_type(kind);
    family.set_metric(vec![metric]);
    family
}

fn bool_label(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

impl RequestObserver for Metrics {
    fn on_request_end(&self, record: &RequestRecord) {
        self.requests.inc();
        self.response_time.observe(record.duration.as_secs_f64());
        self.response_size.observe(record.body_bytes as f64);
        self.paths.count(&record.method, record.path());
    }
}

/// `path_requests_total` with a bounded set of label values.
struct PathRequests {
    family: IntCounterVec,
    known: Mutex<KnownPaths>,
}

/// The counters handed out so far, by path then method label, so that a known path
/// costs a map lookup and no allocation.
#[derive(Default)]
struct KnownPaths {
    by_path: HashMap<String, Vec<(&'static str, IntCounter)>>,
    label_sets: usize,
}

impl PathRequests {
    fn count(&self, method: &Method, path: &str) {
        let label = method_label(method);
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let counter = known
            .by_path
            .get(path)
            .and_then(|methods| methods.iter().find(|(m, _)| *m == label))
            .map(|(_, counter)| counter.clone());
        if let Some(counter) = counter {
            drop(known);
            counter.inc();
            return;
        }
        if known.label_sets >= MAX_PATH_LABELS {
            drop(known);
            self.family.with_label_values(&[label, OTHER_PATH]).inc();
            return;
        }
        let counter = self.family.with_label_values(&[label, path]);
        known.label_sets += 1;
        known
            .by_path
            .entry(path.to_owned())
            .or_default()
            .push((label, counter.clone()));
        drop(known);
        counter.inc();
    }
}

/// Standard methods as they are; anything else as `_OTHER` (a client chooses the method,
/// so it must not choose label values either).
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    const NAMES: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .iter()
        .position(|m| m == method)
        .map_or("_OTHER", |i| NAMES[i])
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use http::StatusCode;

    use super::*;

    fn record(method: Method, target: &str) -> RequestRecord {
        RequestRecord {
            method,
            target: target.into(),
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            status: StatusCode::OK,
            duration: Duration::from_millis(4),
            body_bytes: 1234,
            completed: true,
        }
    }

    #[test]
    fn cpu_time_has_fractions_of_a_second() {
        // Burn some CPU, so that there is a fraction to see.
        let mut x = 0u64;
        while ProcessMetrics::cpu_seconds().unwrap_or(1.0) < 0.05 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let text = text(&Metrics::new().expect("registers"));
        let cpu: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
            .and_then(|v| v.parse().ok())
            .expect("a CPU time");
        assert!((0.05..1.0).contains(&cpu), "{cpu}");
    }

    fn text(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render(3).expect("renders")).expect("utf-8")
    }

    #[test]
    fn requests_are_counted_with_their_path_without_the_query() {
        let metrics = Metrics::new().expect("registers");
        metrics.on_request_end(&record(Method::GET, "/hello?x=1"));
        metrics.on_request_end(&record(Method::GET, "/hello"));
        let text = text(&metrics);
        assert!(text.contains("request_counter_total 2\n"), "{text}");
        assert!(
            text.contains("# TYPE request_counter_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("path_requests_total{method=\"GET\",path=\"/hello\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("request_queue_length 3\n"), "{text}");
        assert!(text.contains("response_time_average 4\n"), "{text}");
        assert!(
            text.contains("response_size_bytes_bucket{le=\"10000\"} 2\n"),
            "{text}"
        );
        assert_eq!(metrics.requests_served(), 2);
    }

    struct TimedOut;

    impl RequestQueue for TimedOut {
        fn queued(&self) -> usize {
            0
        }
        fn timeouts(&self) -> u64 {
            3
        }
        fn stuck(&self) -> usize {
            1
        }
    }

    #[test]
    fn timeouts_and_stuck_requests_are_read_from_the_application() {
        let metrics = Metrics::new().expect("registers");
        let before = text(&metrics);
        assert!(before.contains("\nrequest_timeouts_total 0\n"), "{before}");
        assert!(
            before.contains("\nhurricane_stuck_requests 0\n"),
            "{before}"
        );
        metrics.count_timeouts_of(Arc::new(TimedOut));
        let after = text(&metrics);
        assert!(
            after.contains("# TYPE request_timeouts_total counter\nrequest_timeouts_total 3\n"),
            "{after}"
        );
        assert!(
            after.contains("# TYPE hurricane_stuck_requests gauge\nhurricane_stuck_requests 1\n"),
            "{after}"
        );
    }

    #[test]
    fn path_labels_are_bounded() {
        let metrics = Metrics::new().expect("registers");
        for n in 0..MAX_PATH_LABELS + 5 {
            metrics.on_request_end(&record(Method::GET, &format!("/item/{n}")));
        }
        metrics.on_request_end(&record(
            Method::from_bytes(b"BREW").expect("a token"),
            "/pot",
        ));
        let text = text(&metrics);
        let labelled = text
            .lines()
            .filter(|l| l.starts_with("path_requests_total{"))
            .count();
        assert_eq!(labelled, MAX_PATH_LABELS + 2, "{text}");
        assert!(text.contains("path_requests_total{method=\"GET\",path=\"__other__\"} 5\n"));
        assert!(text.contains("path_requests_total{method=\"_OTHER\",path=\"__other__\"} 1\n"));
    }
}
