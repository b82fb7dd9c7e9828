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
    app: Arc<Application>,
    pool: PythonPool,
}

impl WsgiHandler {
    pub fn new(app: Application, pool: PythonPool) -> Self {
        Self {
            app: Arc::new(app),
            pool,
        }
    }
}

impl Handler for WsgiHandler {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let (reply, response) = oneshot::channel();
        let app = Arc::clone(&self.app);
        let runtime = tokio::runtime::Handle::current();
        self.pool.submit(Box::new(move |py| {
            request::run(py, &app, request, reply, &runtime);
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
