//! The [`Handler`] that serves requests with the WSGI application.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hurricane_core::{Handler, ResponseBody};
use tokio::sync::oneshot;

use crate::{request, Application, PythonPool};

/// Serves every request by running the application on the [`PythonPool`].
///
/// The tokio side only queues the request and awaits its response: no GIL, no Python
/// thread is held while a request waits for its turn.
#[derive(Debug, Clone)]
pub struct WsgiHandler {
    bridge: Arc<Bridge>,
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
        }
    }
}

impl Handler for WsgiHandler {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let (reply, response) = oneshot::channel();
        let bridge = Arc::clone(&self.bridge);
        let runtime = tokio::runtime::Handle::current();
        self.bridge.pool.submit(Box::new(move |py| {
            request::run(py, &bridge, request, reply, &runtime);
        }));
        response.await.unwrap_or_else(|_| unavailable())
    }
}

/// Only when the pool dropped the request without answering: it is shutting down.
fn unavailable() -> Response<ResponseBody> {
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
