//! What happens after a response: [`RequestRecord`]s handed to [`RequestObserver`]s, and
//! the access log, one of them.
//!
//! The record is made when the response body ends (sent, abandoned by the client, or
//! failed), so its duration and byte count are what the client actually got.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::keep_alive::IdleWhenSent;
use crate::{BoxError, ResponseBody};

/// What the server knows about one request once its response is over.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The request's method.
    pub method: Method,
    /// Path and query, as the client sent them.
    pub target: String,
    /// The client's address (the peer of the connection).
    pub client: IpAddr,
    /// The response's status.
    pub status: StatusCode,
    /// From the arrival of the request head until the last body byte was handed to the
    /// connection (or the response was abandoned).
    pub duration: Duration,
    /// Body bytes handed to the connection.
    pub body_bytes: u64,
    /// False when the response body ended early: the client went away or the body failed.
    pub completed: bool,
}

impl RequestRecord {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }
}

/// Told about every request the server answers. The access log is one; metrics are another.
///
/// Called on a tokio worker thread, so implementations must be quick and must not block.
pub trait RequestObserver: Send + Sync + 'static {
    /// A request head has arrived.
    fn on_request_start(&self) {}
    /// The response to a request is over.
    fn on_request_end(&self, record: &RequestRecord);
}

/// The `tracing` target of access-log lines, for filters and log writers that treat them
/// apart (`--log-level info,hurricane::access=warn`).
pub const ACCESS_LOG_TARGET: &str = "hurricane::access";

/// Writes one line per request through `tracing` (target [`ACCESS_LOG_TARGET`]), in
/// django-hurricane's format: `200 GET /hello (127.0.0.1) 1.23ms`. Level INFO below 400,
/// WARN for 4xx, ERROR for 5xx, as django-hurricane logs them.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccessLog;

impl RequestObserver for AccessLog {
    fn on_request_end(&self, r: &RequestRecord) {
        let status = r.status.as_u16();
        let duration_ms = r.duration.as_secs_f64() * 1000.0;
        macro_rules! access {
            ($level:expr) => {
                tracing::event!(
                    target: ACCESS_LOG_TARGET,
                    $level,
                    status,
                    method = %r.method,
                    path = %r.target,
                    client = %r.client,
                    duration_ms,
                    bytes = r.body_bytes,
                    completed = r.completed,
                    "{status} {} {} ({}) {duration_ms:.2}ms",
                    r.method,
                    r.target,
                    r.client,
                )
            };
        }
        match status {
            500.. => access!(tracing::Level::ERROR),
            400..=499 => access!(tracing::Level::WARN),
            _ => access!(tracing::Level::INFO),
        }
    }
}

/// The observers of one server, shared by all its connections.
pub(crate) type Observers = Arc<[Arc<dyn RequestObserver>]>;

/// The part of a [`RequestRecord`] known before the response body is sent.
pub(crate) struct PendingRecord {
    pub method: Method,
    pub target: String,
    pub client: IpAddr,
    pub started: Instant,
}

/// A [`ResponseBody`] that reports its request to the observers when it is finished or
/// dropped, so the record covers the whole body, including streaming responses and clients
/// that disconnect half-way.
pub(crate) struct ObservedBody {
    inner: ResponseBody,
    report: Option<Report>,
    /// Dropped with the body, once hyper has sent it: the connection is idle again.
    _idle_when_sent: IdleWhenSent,
}

struct Report {
    pending: PendingRecord,
    status: StatusCode,
    body_bytes: u64,
    observers: Observers,
}

impl Report {
    fn finish(self, completed: bool) {
        let record = RequestRecord {
            method: self.pending.method,
            target: self.pending.target,
            client: self.pending.client,
            status: self.status,
            duration: self.pending.started.elapsed(),
            body_bytes: self.body_bytes,
            completed,
        };
        for observer in self.observers.iter() {
            observer.on_request_end(&record);
        }
    }
}

impl ObservedBody {
    pub fn new(
        inner: ResponseBody,
        pending: PendingRecord,
        status: StatusCode,
        observers: Observers,
        idle_when_sent: IdleWhenSent,
    ) -> Self {
        let report = (!observers.is_empty()).then_some(Report {
            pending,
            status,
            body_bytes: 0,
            observers,
        });
        Self {
            inner,
            report,
            _idle_when_sent: idle_when_sent,
        }
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            let completed = self.inner.is_end_stream();
            report.finish(completed);
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(report), Some(data)) = (this.report.as_mut(), frame.data_ref()) {
                    report.body_bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(report) = this.report.take() {
                    report.finish(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(report) = this.report.take() {
                    report.finish(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
