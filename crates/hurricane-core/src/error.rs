use std::net::SocketAddr;

/// Errors that stop a [`Server`](crate::Server) from serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A socket handed over by another process could not be used.
    #[error("cannot serve on the listening socket handed over by the supervisor: {0}")]
    Adopt(#[source] std::io::Error),
    /// The listening socket's own address could not be read.
    #[error("cannot read the address of the listening socket: {0}")]
    LocalAddr(#[source] std::io::Error),
}
