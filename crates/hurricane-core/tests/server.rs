//! `hurricane-core` on its own: a real server on a loopback port with a plain Rust handler,
//! driven by raw HTTP over TCP.

#![allow(clippy::unwrap_used, reason = "in a test an unwrap() is an assertion")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hurricane_core::{
    ConnectionInfo, Handler, KeepAlive, RequestObserver, RequestRecord, ResponseBody, Server,
    ServerConfig, ShutdownOutcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Echoes the body, or sleeps `?ms` milliseconds first.
struct Echo;

impl Handler for Echo {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        if let Some(ms) = request.uri().query().and_then(|q| q.strip_prefix("ms=")) {
            let ms = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let peer = request.extensions().get::<ConnectionInfo>().map(|c| c.peer);
        let mut response = Response::new(ResponseBody::full(request.into_body()));
        if let Some(peer) = peer {
            response
                .headers_mut()
                .insert("x-peer-ip", peer.ip().to_string().parse().unwrap());
        }
        response
    }
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<RequestRecord>>);

impl RequestObserver for Recorder {
    fn on_request_end(&self, record: &RequestRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<ShutdownOutcome>,
    records: Arc<Recorder>,
    keep_alive: KeepAlive,
}

async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    let records = Arc::new(Recorder::default());
    let keep_alive = KeepAlive::default();
    let server = Server::bind(config)
        .await
        .unwrap()
        .with_observer(records.clone())
        .with_keep_alive(keep_alive.clone());
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(Echo, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        done,
        records,
        keep_alive,
    }
}

async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn echoes_a_body_with_content_length_and_date() {
    let server = start(|_| {}).await;
    let response = exchange(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("content-length: 5\r\n"), "{response}");
    assert!(response.contains("date: "), "{response}");
    assert!(response.contains("x-peer-ip: 127.0.0.1\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
}

#[tokio::test]
async fn too_large_bodies_get_413_not_a_reset() {
    let server = start(|config| config.max_body_size = 10).await;
    let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 100_000));
    let declared = exchange(server.addr, &raw).await;
    assert!(declared.starts_with("HTTP/1.1 413 "), "{declared}");

    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend(b"8\r\naaaaaaaa\r\n".repeat(100));
    let streamed = exchange(server.addr, &chunked).await;
    assert!(streamed.starts_with("HTTP/1.1 413 "), "{streamed}");
    assert!(streamed.ends_with("Request body too large\n"), "{streamed}");
}

#[tokio::test]
async fn two_host_headers_get_400() {
    let server = start(|_| {}).await;
    let response = exchange(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
}

#[tokio::test]
async fn observers_see_every_request() {
    let server = start(|_| {}).await;
    exchange(
        server.addr,
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let records = server.records.0.lock().unwrap().clone();
    let targets: Vec<_> = records.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/a?b=c", "/d"]);
    assert!(records.iter().all(|r| r.status == 200 && r.completed));
}

#[tokio::test]
async fn shutdown_lets_the_in_flight_request_finish() {
    let mut server = start(|config| config.graceful_timeout = Duration::from_secs(5)).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        exchange(
            addr,
            b"GET /?ms=300 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    let response = in_flight.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(server.done.await.unwrap(), ShutdownOutcome::Drained);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_graceful_timeout() {
    let mut server = start(|config| config.graceful_timeout = Duration::from_millis(200)).await;
    let addr = server.addr;
    let _in_flight =
        tokio::spawn(
            async move { exchange(addr, b"GET /?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n").await },
        );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    let outcome = tokio::time::timeout(Duration::from_secs(2), server.done)
        .await
        .expect("shutdown waited past its timeout")
        .unwrap();
    assert_eq!(outcome, ShutdownOutcome::TimedOut);
}

/// Sends a body-less GET on `stream` and reads its response head (the body is empty).
async fn get_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        match read {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether the server closed `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(within, stream.read_to_end(&mut rest)).await,
        Ok(Ok(0))
    )
}

#[tokio::test]
async fn idle_keep_alive_lasts_the_keep_alive_timeout_not_the_header_read_timeout() {
    let server = start(|config| {
        config.header_read_timeout = Duration::from_millis(200);
        config.keep_alive_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_on(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
    // Idle for longer than a request head may take: still open.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(get_on(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
    // Idle past the keep-alive timeout: closed.
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await);
}

#[tokio::test]
async fn idle_keep_alive_closes_at_its_timeout_when_a_head_may_take_longer() {
    let server = start(|config| {
        config.header_read_timeout = Duration::from_secs(30);
        config.keep_alive_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_on(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_at_the_header_read_timeout() {
    let server = start(|config| {
        config.header_read_timeout = Duration::from_millis(300);
        config.keep_alive_timeout = Duration::from_secs(30);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn after_keep_alive_ends_responses_close_their_connection() {
    let server = start(|_| {}).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let before = get_on(&mut stream).await;
    assert!(!before.contains("connection: close"), "{before}");
    server.keep_alive.end();
    let after = get_on(&mut stream).await;
    assert!(after.starts_with("HTTP/1.1 200 OK"), "{after}");
    assert!(after.contains("connection: close\r\n"), "{after}");
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn beyond_max_connections_a_connection_waits_until_one_closes() {
    let server = start(|config| config.max_connections = Some(1)).await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_on(&mut first).await.starts_with("HTTP/1.1 200 OK"));
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), get_on(&mut second)).await;
    assert!(
        waiting.is_err(),
        "answered while the first connection was open"
    );
    drop(first);
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && second.read(&mut byte).await.unwrap() == 1 {
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    })
    .await
    .unwrap();
    assert!(answered.starts_with("HTTP/1.1 200 OK"), "{answered}");
}
