//! Routing requests to mounts, as a hurricane [`Handler`] in front of an application or
//! as a tower [`Service`] on its own.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hurricane_core::{Handler, ResponseBody};

use crate::mount::Mount;
use crate::path::SafePath;
use crate::response::{method_not_allowed, not_found, respond, status};

/// Files served under URL prefixes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StaticFiles {
    /// Longest prefix first, so `/static/media/` wins over `/static/`.
    mounts: Arc<[Arc<Mount>]>,
}

impl StaticFiles {
    /// Serves `mounts`; when prefixes nest, the longest one that matches wins.
    ///
    /// ```
    /// use hurricane_static::{Directory, Mount, StaticFiles};
    ///
    /// let files = StaticFiles::new(vec![
    ///     Mount::new("/static/", vec![Directory::open("src")?])?,
    ///     Mount::new("/static/examples/", vec![Directory::open("examples")?])?,
    /// ]);
    ///
    /// let request = http::Request::get("/static/examples/files.rs").body(())?;
    /// let response = tokio::runtime::Runtime::new()?.block_on(files.serve(&request));
    /// assert_eq!(response.map(|r| r.status()), Some(http::StatusCode::OK));
    ///
    /// // Outside every mount: not ours to answer.
    /// let request = http::Request::get("/admin/").body(())?;
    /// assert!(tokio::runtime::Runtime::new()?.block_on(files.serve(&request)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(mounts: Vec<Mount>) -> Self {
        let mut mounts: Vec<Arc<Mount>> = mounts.into_iter().map(Arc::new).collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix().len()));
        Self {
            mounts: mounts.into(),
        }
    }

    /// Whether there is no mount at all.
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    /// The response to `request` if its path is under a mount; `None` otherwise, for
    /// the application to answer. Under a mount the answer is always ours: a missing
    /// file is a 404, never the application's.
    pub async fn serve<B>(&self, request: &Request<B>) -> Option<Response<ResponseBody>> {
        let path = request.uri().path();
        let (mount, below) = self
            .mounts
            .iter()
            .find_map(|mount| mount.strip(path).map(|below| (mount, below)))?;
        Some(serve_in(mount, below, request.method(), request.headers()).await)
    }
}

async fn serve_in(
    mount: &Arc<Mount>,
    below: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response<ResponseBody> {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed();
    }
    let Some(path) = SafePath::parse(below) else {
        return not_found();
    };
    let file = match mount.cache.get(path.as_str()) {
        Some((file, true)) => file,
        cached => {
            // Not cached, or cached long enough ago to look again: the disk is read on
            // the blocking pool, never on an I/O thread.
            let previous = cached.map(|(file, _)| file);
            let loading = Arc::clone(mount);
            let key = path.clone();
            let loaded =
                tokio::task::spawn_blocking(move || loading.load(&key, previous.as_deref())).await;
            match loaded {
                Ok(Ok(found)) => {
                    let found = found.map(Arc::new);
                    mount.cache.put(path.as_str(), found.clone());
                    match found {
                        Some(file) => file,
                        None => return not_found(),
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(path = path.as_str(), mount = mount.prefix(), %error,
                        "cannot read a static file");
                    return status(StatusCode::INTERNAL_SERVER_ERROR);
                }
                Err(error) => {
                    tracing::error!(%error, "looking up a static file failed");
                    return status(StatusCode::INTERNAL_SERVER_ERROR);
                }
            }
        }
    };
    respond(&file, method, headers).await
}

/// The files first, then the application: requests under a mount never reach `app`.
#[derive(Debug, Clone)]
pub struct WithStaticFiles<A> {
    files: StaticFiles,
    app: A,
}

impl<A> WithStaticFiles<A> {
    /// `files` in front of `app`, as one [`Handler`] for a
    /// [`hurricane_core::Server`].
    ///
    /// ```no_run
    /// use hurricane_core::{Handler, ResponseBody, Server, ServerConfig};
    /// use hurricane_static::{Directory, Mount, StaticFiles, WithStaticFiles};
    ///
    /// struct App;
    ///
    /// impl Handler for App {
    ///     async fn call(&self, _: http::Request<bytes::Bytes>) -> http::Response<ResponseBody> {
    ///         http::Response::new(ResponseBody::full("from the application"))
    ///     }
    /// }
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let files = StaticFiles::new(vec![Mount::new("/static/", vec![Directory::open("static")?])?]);
    /// let server = Server::bind(ServerConfig::new("127.0.0.1:8000".parse()?)).await?;
    /// server.serve(WithStaticFiles::new(files, App), std::future::pending()).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(files: StaticFiles, app: A) -> Self {
        Self { files, app }
    }
}

impl<A: Handler> Handler for WithStaticFiles<A> {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        match self.files.serve(&request).await {
            Some(response) => response,
            None => self.app.call(request).await,
        }
    }
}

/// Standalone use, e.g. with `hyper::service::service_fn` or under tower: paths outside
/// every mount get 404.
impl<B> tower_service::Service<Request<B>> for StaticFiles {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let files = self.clone();
        let (parts, _) = request.into_parts();
        let head = Request::from_parts(parts, ());
        Box::pin(async move { Ok(files.serve(&head).await.unwrap_or_else(not_found)) })
    }
}
