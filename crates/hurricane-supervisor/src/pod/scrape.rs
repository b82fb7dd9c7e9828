//! Asking a server process's private probe port how it is: plain HTTP/1.1 GETs over
//! loopback, with a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The status and body of `GET path` on `addr`, or `None` if there is no answer within
/// `deadline` (a wedged or dead process).
pub(crate) async fn get(
    addr: SocketAddr,
    path: &str,
    deadline: Duration,
) -> Option<(StatusCode, Bytes)> {
    tokio::time::timeout(deadline, fetch(addr, path))
        .await
        .ok()
        .flatten()
}

async fn fetch(addr: SocketAddr, path: &str) -> Option<(StatusCode, Bytes)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(http::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}
