//! [`Server`]: the accept loop, one hyper HTTP/1.1 connection task per client, reading
//! request bodies within their limit, and the graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::Instant;

use crate::access::{ObservedBody, Observers, PendingRecord, ACCESS_LOG_TARGET};
use crate::forwarded::{ForwardedAllowIps, RemoteClient};
use crate::incoming::{next_handed, Accepted, ConnectionSource, HandedConnection, Next};
use crate::keep_alive::{Activity, IdleWhenSent, KeepAlive, Limits, Phase};
use crate::linger::LingeringStream;
use crate::rejection::{check_head, Rejection};
use crate::{ConnectionInfo, Handler, RequestObserver, ServerConfig, ServerError};

/// How a server's shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every in-flight request finished within the graceful timeout.
    Drained,
    /// The graceful timeout passed with connections still open; they were dropped.
    TimedOut,
}

/// A listening HTTP/1.1 server. [`Server::bind`] opens the socket; [`Server::serve`] accepts
/// connections until the shutdown future completes, then drains in-flight requests.
pub struct Server {
    incoming: ConnectionSource,
    config: ServerConfig,
    observers: Vec<Arc<dyn RequestObserver>>,
    keep_alive: KeepAlive,
}

impl Server {
    /// Opens the listening socket described by `config`.
    ///
    /// ```
    /// use hurricane_core::{Server, ServerConfig};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// // Port 0: the system picks a free port.
    /// let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse()?)).await?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    ///
    /// // The same address again: the port is taken.
    /// let taken = ServerConfig::new(server.local_addr()?);
    /// let error = Server::bind(taken).await.err().expect("the port is in use");
    /// assert!(error.to_string().starts_with("cannot listen on 127.0.0.1:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|error| ServerError::Bind {
                addr: config.addr,
                error,
            })?;
        Ok(Self {
            incoming: ConnectionSource::Listener(listener),
            config,
            observers: Vec::new(),
            keep_alive: KeepAlive::default(),
        })
    }

    /// Serves on a socket that is already listening: one inherited from a supervisor
    /// (`LISTEN_FDS`) or shared with other processes. `config.addr` is then only
    /// reported, never bound.
    ///
    /// ```
    /// use hurricane_core::{Server, ServerConfig};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let server = Server::from_listener(listener, ServerConfig::new(addr))?;
    /// assert_eq!(server.local_addr()?, addr);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_listener(
        listener: std::net::TcpListener,
        config: ServerConfig,
    ) -> Result<Self, ServerError> {
        listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map(|listener| Self {
                incoming: ConnectionSource::Listener(listener),
                config,
                observers: Vec::new(),
                keep_alive: KeepAlive::default(),
            })
            .map_err(ServerError::Adopt)
    }

    /// Serves connections accepted by another process (a supervisor) and handed over
    /// through `connections`, as if this server had accepted them on `config.addr`
    /// (only reported). Once the server stops, connections still handed over are
    /// served too, until the sender closes the channel (or the graceful timeout).
    pub fn from_handed(
        connections: mpsc::Receiver<HandedConnection>,
        config: ServerConfig,
    ) -> Self {
        Self {
            incoming: ConnectionSource::Handed {
                connections,
                addr: config.addr,
            },
            config,
            observers: Vec::new(),
            keep_alive: KeepAlive::default(),
        }
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.incoming.local_addr().map_err(ServerError::LocalAddr)
    }

    /// Adds an observer told about every request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use hurricane_core::{AccessLog, RequestObserver, RequestRecord, Server, ServerConfig};
    ///
    /// /// Counts the responses that went out whole.
    /// #[derive(Default)]
    /// struct Completed(AtomicU64);
    ///
    /// impl RequestObserver for Completed {
    ///     fn on_request_end(&self, record: &RequestRecord) {
    ///         if record.completed {
    ///             self.0.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let completed = Arc::new(Completed::default());
    /// let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse()?))
    ///     .await?
    ///     .with_observer(Arc::new(AccessLog))
    ///     .with_observer(completed.clone());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Lets `keep_alive` end keep-alive: once [`KeepAlive::end`] is called, every response
    /// carries `Connection: close` (a drain's first step, while the server still serves).
    ///
    /// ```
    /// use hurricane_core::{KeepAlive, Server, ServerConfig};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let keep_alive = KeepAlive::default();
    /// let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse()?))
    ///     .await?
    ///     .with_keep_alive(keep_alive.clone());
    /// // later, e.g. on SIGTERM: keep_alive.end();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Serves `handler` until `shutdown` completes. Then stops accepting, lets in-flight
    /// requests finish for up to [`ServerConfig::graceful_timeout`], and returns.
    ///
    /// ```
    /// use hurricane_core::{Handler, ResponseBody, Server, ServerConfig, ShutdownOutcome};
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// struct Hello;
    ///
    /// impl Handler for Hello {
    ///     async fn call(&self, _: http::Request<bytes::Bytes>) -> http::Response<ResponseBody> {
    ///         http::Response::new(ResponseBody::full("hello"))
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse()?)).await?;
    /// let addr = server.local_addr()?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let running = tokio::spawn(server.serve(Hello, async {
    ///     let _ = stopped.await;
    /// }));
    ///
    /// let mut client = tokio::net::TcpStream::connect(addr).await?;
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    /// let mut response = String::new();
    /// client.read_to_string(&mut response).await?;
    /// assert!(response.starts_with("HTTP/1.1 200 OK"));
    /// assert!(response.ends_with("hello"));
    ///
    /// let _ = stop.send(());
    /// assert_eq!(running.await?, ShutdownOutcome::Drained);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn serve<H: Handler>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> ShutdownOutcome {
        let Self {
            mut incoming,
            config,
            observers,
            keep_alive,
        } = self;
        let listening = incoming.local_addr().unwrap_or(config.addr);
        let connections = Connections::new(&config, handler, observers, keep_alive, listening);
        // Every connection task holds a clone of `alive`; once the server stops, the
        // receiver sees the channel close when the last connection has ended.
        let (alive, connections_ended) = mpsc::channel::<()>(1);
        let (stopping_tx, stopping) = watch::channel(false);
        let tasks = ConnectionTasks {
            connections,
            alive,
            stopping,
        };
        // Beyond `max_connections`, connections wait in the kernel's backlog.
        let slots = Arc::new(Semaphore::new(
            config.max_connections.unwrap_or(Semaphore::MAX_PERMITS),
        ));
        tokio::pin!(shutdown);
        loop {
            let next = tokio::select! {
                next = incoming.next(&slots) => next,
                () = &mut shutdown => break,
            };
            match next {
                Next::Connection(accepted) => tasks.spawn(accepted),
                Next::Retry => continue,
                Next::Closed => break,
            }
        }
        let handed = incoming.stop_accepting();
        tracing::info!(
            listener = config.name,
            port = listening.port(),
            timeout_s = config.graceful_timeout.as_secs_f64(),
            "{} server stopped accepting connections on port {}; waiting for in-flight requests",
            config.name,
            listening.port(),
        );
        let _ = stopping_tx.send(true);
        tasks
            .drain(handed, &slots, connections_ended, config.graceful_timeout)
            .await
    }
}

/// Spawns a task per connection and knows when they have all ended.
struct ConnectionTasks<H> {
    connections: Connections<H>,
    alive: mpsc::Sender<()>,
    stopping: watch::Receiver<bool>,
}

impl<H: Handler> ConnectionTasks<H> {
    fn spawn(&self, accepted: Accepted) {
        let alive = self.alive.clone();
        let connection =
            self.connections
                .serve(accepted.stream, accepted.peer, self.stopping.clone());
        let held = (accepted.slot, accepted.notice);
        tokio::spawn(async move {
            connection.await;
            drop((held, alive));
        });
    }

    /// After the server stopped accepting: serves the connections still being handed
    /// over, then waits for every connection to end, for at most `timeout` in all.
    async fn drain(
        self,
        mut handed: Option<mpsc::Receiver<HandedConnection>>,
        slots: &Arc<Semaphore>,
        mut ended: mpsc::Receiver<()>,
        timeout: Duration,
    ) -> ShutdownOutcome {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        while let Some(connections) = handed.as_mut() {
            tokio::select! {
                accepted = next_handed(connections, slots) => match accepted {
                    Some(accepted) => self.spawn(accepted),
                    None => handed = None,
                },
                () = &mut deadline => return ShutdownOutcome::TimedOut,
            }
        }
        drop(self);
        tokio::select! {
            _ = ended.recv() => ShutdownOutcome::Drained,
            () = &mut deadline => ShutdownOutcome::TimedOut,
        }
    }
}

/// hyper's HTTP/1.1 settings. hyper's own header read timeout is off: it would also count
/// the idle time between keep-alive requests (see [`crate::keep_alive`]).
fn http_builder(config: &ServerConfig) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(config.max_header_size)
        .keep_alive(true);
    http
}

/// What every connection of one server shares.
struct Connections<H> {
    http: http1::Builder,
    limits: Limits,
    handler: Arc<H>,
    observers: Observers,
    keep_alive: KeepAlive,
    max_body_size: u64,
    trusted_proxies: Arc<ForwardedAllowIps>,
    listening: SocketAddr,
}

impl<H: Handler> Connections<H> {
    fn new(
        config: &ServerConfig,
        handler: H,
        observers: Vec<Arc<dyn RequestObserver>>,
        keep_alive: KeepAlive,
        listening: SocketAddr,
    ) -> Self {
        Self {
            http: http_builder(config),
            limits: Limits {
                idle: config.keep_alive_timeout,
                head: config.header_read_timeout,
            },
            handler: Arc::new(handler),
            observers: observers.into(),
            keep_alive,
            max_body_size: config.max_body_size,
            trusted_proxies: Arc::new(config.forwarded_allow_ips.clone()),
            listening,
        }
    }

    /// Serves one connection until it ends (see [`drain_on_stop`]).
    fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        stopping: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = stream.set_nodelay(true);
        // The address this connection arrived on, not the wildcard the server binds.
        let local = stream.local_addr().unwrap_or(self.listening);
        let activity = Activity::new();
        let context = Arc::new(RequestContext {
            handler: Arc::clone(&self.handler),
            observers: Arc::clone(&self.observers),
            info: ConnectionInfo { peer, local },
            max_body_size: self.max_body_size,
            trusted_proxies: Arc::clone(&self.trusted_proxies),
            keep_alive: self.keep_alive.clone(),
            activity: Arc::clone(&activity),
        });
        let first_request = Arc::new(FirstRequest::default());
        let seen = Arc::clone(&first_request);
        let service = service_fn(move |request| {
            seen.arrived();
            let context = Arc::clone(&context);
            async move { Ok::<_, Infallible>(context.respond(request).await) }
        });
        let stream = LingeringStream::new(stream, Arc::clone(&activity));
        let connection = self.http.serve_connection(TokioIo::new(stream), service);
        let watch = ConnectionWatch {
            activity,
            limits: self.limits,
            first_request,
            stopping,
        };
        async move {
            match drain_on_stop(connection, watch).await {
                Ok(Ending::Closed) => {}
                Ok(Ending::SlowHead) => log_slow_head(peer),
                Err(error) => log_connection_error(&error, peer),
            }
        }
    }
}

/// A connection accepted just before the server stopped accepting may not have sent its
/// first request yet; it gets this long to do so, and an answer, rather than being
/// closed unanswered (a failed request for a client that did nothing wrong).
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// What a connection's task watches besides the connection itself.
struct ConnectionWatch {
    activity: Arc<Activity>,
    limits: Limits,
    first_request: Arc<FirstRequest>,
    stopping: watch::Receiver<bool>,
}

/// How a connection ended, when it was not the client's or hyper's doing.
enum Ending {
    /// It ended by itself (the client closed it, or `Connection: close`).
    Closed,
    /// Its request head did not arrive within the header read timeout; it was dropped.
    SlowHead,
}

/// Runs `connection` until it ends. Closes it gracefully when it has been idle for the
/// keep-alive timeout, drops it when a request head takes longer than the header read
/// timeout, and once the server stops, closes it gracefully too: a request in progress
/// is finished, an idle keep-alive connection is closed, and a connection that has not
/// had its first request yet waits up to [`FIRST_REQUEST_GRACE`] for it.
///
/// hyper-util's [`GracefulShutdown`](hyper_util::server::graceful::GracefulShutdown) does
/// not fit: it asks every connection to shut down the moment it is signalled, which closes
/// a connection still waiting for its first request unanswered. Its
/// [`GracefulConnection`] trait is what this needs from a connection.
async fn drain_on_stop<C>(connection: C, mut watch: ConnectionWatch) -> Result<Ending, C::Error>
where
    C: GracefulConnection,
{
    tokio::pin!(connection);
    loop {
        let now = Instant::now();
        match watch.activity.expired(watch.limits, now) {
            Some(Phase::Idle) => {
                connection.as_mut().graceful_shutdown();
                return connection.await.map(|()| Ending::Closed);
            }
            Some(_) => return Ok(Ending::SlowHead),
            None => {}
        }
        let check = watch.activity.next_check(watch.limits, now);
        tokio::select! {
            result = connection.as_mut() => return result.map(|()| Ending::Closed),
            _ = watch.stopping.wait_for(|stop| *stop) => break,
            () = tokio::time::sleep_until(check) => {}
        }
    }
    tokio::select! {
        result = connection.as_mut() => return result.map(|()| Ending::Closed),
        () = watch.first_request.wait() => {}
        () = tokio::time::sleep(FIRST_REQUEST_GRACE) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await.map(|()| Ending::Closed)
}

/// Whether a connection has had a request yet.
#[derive(Debug, Default)]
struct FirstRequest {
    seen: AtomicBool,
    arrived: Notify,
}

impl FirstRequest {
    fn arrived(&self) {
        if !self.seen.swap(true, Ordering::AcqRel) {
            self.arrived.notify_one();
        }
    }

    /// Completes once a request has arrived (at once if one has).
    async fn wait(&self) {
        if !self.seen.load(Ordering::Acquire) {
            self.arrived.notified().await;
        }
    }
}

/// Requests hyper refuses before they reach the service (and so the observers) are still
/// worth a line in the access log: they are what an attack or a broken client looks like.
fn log_connection_error(error: &hyper::Error, peer: SocketAddr) {
    let client = peer.ip();
    if error.is_parse_too_large() {
        tracing::warn!(target: ACCESS_LOG_TARGET, status = 431, %client, %error,
            "431 - request head too large ({client})");
    } else if error.is_parse() {
        tracing::warn!(target: ACCESS_LOG_TARGET, status = 400, %client, %error,
            "400 - malformed request ({client}): {error}");
    } else if error.is_timeout() {
        log_slow_head(peer);
    } else {
        tracing::debug!(%error, %client, "connection ended with an error");
    }
}

fn log_slow_head(peer: SocketAddr) {
    let client = peer.ip();
    tracing::warn!(target: ACCESS_LOG_TARGET, %client,
        "- - request head not received in time; connection closed ({client})");
}

/// Everything a connection's requests need, shared by the requests of one connection.
struct RequestContext<H> {
    handler: Arc<H>,
    observers: Observers,
    info: ConnectionInfo,
    max_body_size: u64,
    trusted_proxies: Arc<ForwardedAllowIps>,
    keep_alive: KeepAlive,
    activity: Arc<Activity>,
}

impl<H: Handler> RequestContext<H> {
    async fn respond(&self, request: Request<Incoming>) -> Response<ObservedBody> {
        self.activity.request_started();
        let started = std::time::Instant::now();
        for observer in self.observers.iter() {
            observer.on_request_start();
        }
        let client = self
            .trusted_proxies
            .client(self.info.peer, request.headers());
        let pending = PendingRecord {
            method: request.method().clone(),
            target: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().to_string(), |pq| pq.as_str().to_owned()),
            client: client.ip,
            started,
        };
        let version = request.version();
        let response = match self.read_body(request, client).await {
            Ok(request) => self.handler.call(request).await,
            Err(rejection) => rejection.into_response(),
        };
        let (mut parts, body) = response.into_parts();
        if version == Version::HTTP_10
            && body.size_hint().exact().is_none()
            && !parts.headers.contains_key(header::CONTENT_LENGTH)
        {
            // An HTTP/1.0 client can only find the end of a body of unknown length by
            // the connection closing. (A 1.0 response version is what makes hyper
            // honour the close instead of keeping a keep-alive client's connection.)
            parts.version = Version::HTTP_10;
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if !self.keep_alive.is_on() {
            // Draining: the client reconnects, and the balancer sends it elsewhere.
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let idle_when_sent = IdleWhenSent(Arc::clone(&self.activity));
        let observers = Arc::clone(&self.observers);
        let body = ObservedBody::new(body, pending, parts.status, observers, idle_when_sent);
        Response::from_parts(parts, body)
    }

    /// Reads the whole request body, refusing it with 413 as soon as it is known to be too
    /// large: from `Content-Length` before reading anything (so `Expect: 100-continue`
    /// clients are never told to send it), or while reading a chunked body.
    async fn read_body(
        &self,
        request: Request<Incoming>,
        client: RemoteClient,
    ) -> Result<Request<Bytes>, Rejection> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_size) {
            return Err(Rejection::TooLarge);
        }
        let (mut parts, body) = request.into_parts();
        check_head(&parts)?;
        let limit = usize::try_from(self.max_body_size).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => return Err(Rejection::TooLarge),
            Err(error) => {
                tracing::debug!(%error, client = %self.info.peer, "request body could not be read");
                return Err(Rejection::BadBody);
            }
        };
        parts.extensions.insert(self.info);
        parts.extensions.insert(client);
        Ok(Request::from_parts(parts, bytes))
    }
}
