//! Response bodies: empty, one buffer, or chunks streamed through a bounded channel
//! ([`channel_body`]) whose sender waits while the client is slow to read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The error type carried by response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: nothing, one buffer, or a stream of chunks fed through a bounded channel.
///
/// An enum rather than a boxed trait object, so the common cases (an empty body or a single
/// buffer, which is every Django `HttpResponse`) cost no allocation and go out with
/// `Content-Length`.
#[derive(Debug, Default)]
pub enum ResponseBody {
    /// No body.
    #[default]
    Empty,
    /// A single buffer, sent with `Content-Length`. `None` once it has been sent.
    Full(Option<Bytes>),
    /// Chunks sent by a [`BodySender`] as they are produced. An error aborts the response,
    /// so the client can tell the body is incomplete.
    Channel(ChannelReceiver),
}

/// The receiving end of [`channel_body`].
#[derive(Debug)]
pub struct ChannelReceiver {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
    /// The end of the stream (`Some(None)`) or its error (`Some(Some(e))`), held back for
    /// one poll. hyper stops writing without flushing when a body ends in an error or
    /// short of its `Content-Length`; yielding once first lets it flush what was written,
    /// so the client gets every byte that was produced before the connection closes.
    held_end: Option<Option<BoxError>>,
}

impl ChannelReceiver {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        if let Some(end) = self.held_end.take() {
            return Poll::Ready(end.map(Err));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(end) => {
                self.held_end = Some(end.and_then(Result::err));
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl ResponseBody {
    /// A body of one buffer.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Self::Empty
        } else {
            Self::Full(Some(bytes))
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Channel(channel) => channel
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|result| result.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Full(bytes) => bytes.is_none(),
            Self::Channel(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Channel(_) => SizeHint::default(),
        }
    }
}

/// Creates a streaming body and the sender that feeds it. At most `capacity` chunks wait in
/// between, which bounds memory when the client reads slower than the producer writes.
pub fn channel_body(capacity: usize) -> (BodySender, ResponseBody) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let receiver = ChannelReceiver { rx, held_end: None };
    (BodySender { tx }, ResponseBody::Channel(receiver))
}

/// The client went away (or the response was dropped): nobody will read further chunks.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the client is gone")]
pub struct ClientGone;

/// Feeds a [`ResponseBody::Channel`]. Dropping it ends the body normally.
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
}

/// Outcome of [`BodySender::try_send`].
#[derive(Debug)]
pub enum TrySend {
    /// The chunk was queued.
    Sent,
    /// The channel is full; the chunk is handed back.
    Full(Bytes),
    /// Nobody is reading any more.
    Gone,
}

impl BodySender {
    /// Queues a chunk without waiting.
    pub fn try_send(&self, chunk: Bytes) -> TrySend {
        match self.tx.try_send(Ok(chunk)) {
            Ok(()) => TrySend::Sent,
            Err(mpsc::error::TrySendError::Full(Ok(chunk))) => TrySend::Full(chunk),
            Err(_) => TrySend::Gone,
        }
    }

    /// Queues a chunk, blocking the current thread while the channel is full.
    /// Must not be called from inside the tokio runtime.
    pub fn blocking_send(&self, chunk: Bytes) -> Result<(), ClientGone> {
        self.tx.blocking_send(Ok(chunk)).map_err(|_| ClientGone)
    }

    /// Queues a chunk, waiting while the channel is full.
    pub async fn send(&self, chunk: Bytes) -> Result<(), ClientGone> {
        self.tx.send(Ok(chunk)).await.map_err(|_| ClientGone)
    }

    /// Ends the body with an error, so the connection is aborted rather than the body
    /// finishing as if it were complete. Blocks like [`BodySender::blocking_send`] while the
    /// channel is full; must not be called from inside the tokio runtime.
    pub fn blocking_abort(self, error: BoxError) {
        let _ = self.tx.blocking_send(Err(error));
    }

    /// Ends the body with an error, waiting while the channel is full.
    pub async fn abort(self, error: BoxError) {
        let _ = self.tx.send(Err(error)).await;
    }
}
