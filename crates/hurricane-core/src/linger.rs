//! Lingering close: do not reset a connection whose client is still sending.
//!
//! When the server answers early (413 for a body it will not read, 400 for a malformed
//! request, the end of an HTTP/1.0 exchange with a pipelined request behind it) and then
//! closes a socket with unread input, the kernel sends a TCP reset, and the client often
//! loses the response it had not read yet. Like nginx's `lingering_close`, the socket is
//! instead half-closed and its input read and discarded for a short while.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::keep_alive::Activity;

/// Longest time a closed connection keeps draining its client's input.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most input drained from one closed connection.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A TCP stream that lingers instead of resetting when dropped with input pending. It
/// also tells the connection's [`Activity`] when bytes arrive.
pub(crate) struct LingeringStream {
    stream: Option<TcpStream>,
    activity: Arc<Activity>,
}

impl LingeringStream {
    pub(crate) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            stream: Some(stream),
            activity,
        }
    }

    fn stream(self: Pin<&mut Self>) -> Pin<&mut TcpStream> {
        // `stream` is only taken in `drop`, so it is always there while in use.
        match &mut self.get_mut().stream {
            Some(stream) => Pin::new(stream),
            None => unreachable!("LingeringStream used after drop"),
        }
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut probe = [0u8; 1];
        match stream.try_read(&mut probe) {
            // The client closed its side: nothing can be reset; close at once.
            Ok(0) => {}
            // Input pending, or possibly still in flight: drain it before closing.
            Ok(_) | Err(_) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(linger(stream));
                }
            }
        }
    }
}

async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.as_mut().stream().poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}
