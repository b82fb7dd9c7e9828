//! [`Handler`]: what the application side plugs into a [`Server`](crate::Server), and the
//! [`ConnectionInfo`] it finds in every request.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};

use crate::ResponseBody;

/// Where a request came from and where it arrived; stored in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
}

/// Answers requests. The server calls it once per request, with the whole body read.
///
/// A handler never fails: whatever goes wrong inside it becomes a response (usually a 500)
/// so the connection and the server keep going.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `request`. [`ConnectionInfo`] is in its extensions.
    fn call(&self, request: Request<Bytes>) -> impl Future<Output = Response<ResponseBody>> + Send;
}
