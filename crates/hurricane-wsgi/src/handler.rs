//! The [`Handler`] that serves requests with the WSGI application.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hurricane_core::{Handler, ResponseBody};
use tokio::sync::oneshot;

use crate::request::RequestTarget;
use crate::timeout::RequestTimeout;
use crate::{request, Application, PythonPool};

/// Serves every request by running the application on the [`PythonPool`].
///
/// The tokio side only queues the request and awaits its response: no GIL, no Python
/// thread is held while a request waits for its turn.
#[derive(Debug, Clone)]
pub struct WsgiHandler {
    bridge: Arc<Bridge>,
    timeout: Option<Arc<RequestTimeout>>,
}

/// What a request needs on its Python thread.
#[derive(Debug)]
pub(crate) struct Bridge {
    pub(crate) app: Application,
    /// For work that outlives the request's turn on its thread (closing a file response).
    pub(crate) pool: PythonPool,
}

impl WsgiHandler {
    /// Serves requests with `app`, run on `pool`'s threads.
    pub fn new(app: Application, pool: PythonPool) -> Self {
        Self {
            bridge: Arc::new(Bridge { app, pool }),
            timeout: None,
        }
    }

    /// Answers `504 Gateway Timeout` for a request whose response has not started
    /// `timeout` after it was handed to the application (time in the queue counts),
    /// and logs the Python stack of the thread running it, which goes on: see the
    /// `timeout` module. Starts the thread that reads those stacks (`python-timeouts`).
    pub fn with_timeout(self, timeout: Duration) -> std::io::Result<Self> {
        Ok(Self {
            timeout: Some(Arc::new(RequestTimeout::start(timeout)?)),
            ..self
        })
    }
}

impl Handler for WsgiHandler {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        // Only with --timeout: the clock and the target are read for nothing otherwise.
        let timed = self.timeout.as_ref().map(|timeout| {
            let arrived = tokio::time::Instant::now();
            (timeout, arrived, RequestTarget::of(&request))
        });
        let (reply, response) = oneshot::channel();
        let bridge = Arc::clone(&self.bridge);
        let runtime = tokio::runtime::Handle::current();
        let job = Box::new(move |py: pyo3::Python<'_>| {
            request::run(py, &bridge, request, reply, &runtime);
        });
        match timed {
            Some((timeout, arrived, target)) => {
                timeout
                    .answer(&self.bridge.pool, job, response, arrived, target)
                    .await
            }
            None => {
                self.bridge.pool.submit(job);
                response.await.unwrap_or_else(|_| unavailable())
            }
        }
    }
}

/// Only when the pool dropped the request without answering: it is shutting down.
pub(crate) fn unavailable() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(
        b"Service Unavailable\n",
    )));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
