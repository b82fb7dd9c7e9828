//! `hurricane-core` on its own: a real server on a loopback port with a plain Rust handler,
//! driven by raw HTTP over TCP.

#![allow(clippy::unwrap_used, reason = "in a test an unwrap() is an assertion")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hurricane_core::{
    ConnectionInfo, Handler, RequestObserver, RequestRecord, ResponseBody, Server, ServerConfig,
    ShutdownOutcome,
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
}

async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    let records = Arc::new(Recorder::default());
    let server = Server::bind(config)
        .await
        .unwrap()
        .with_observer(records.clone());
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
