//! Where a server's connections come from: its own listening socket, or connections a
//! supervisor accepted and handed over (see `hurricane-supervisor`'s `handoff`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A connection accepted by another process and handed to this server.
pub struct HandedConnection {
    stream: std::net::TcpStream,
    on_close: Option<Box<dyn FnOnce() + Send>>,
}

impl HandedConnection {
    /// A connection to serve as if this server had accepted it.
    pub fn new(stream: std::net::TcpStream) -> Self {
        Self {
            stream,
            on_close: None,
        }
    }

    /// Calls `on_close` once the server is done with the connection (it closed, or was
    /// never served): how a supervisor learns which process has how many open.
    pub fn on_close(mut self, on_close: impl FnOnce() + Send + 'static) -> Self {
        self.on_close = Some(Box::new(on_close));
        self
    }
}

/// Calls a [`HandedConnection`]'s `on_close` when dropped.
pub(crate) struct CloseNotice(Option<Box<dyn FnOnce() + Send>>);

impl Drop for CloseNotice {
    fn drop(&mut self) {
        if let Some(on_close) = self.0.take() {
            on_close();
        }
    }
}

/// One accepted connection and what it holds until it ends.
pub(crate) struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub slot: OwnedSemaphorePermit,
    pub notice: CloseNotice,
}

/// What waiting for a connection gave.
pub(crate) enum Next {
    Connection(Accepted),
    /// Nothing this time (a failed accept); wait again.
    Retry,
    /// No connection will ever come again (the supervisor closed the handoff).
    Closed,
}

pub(crate) enum ConnectionSource {
    Listener(TcpListener),
    Handed {
        connections: mpsc::Receiver<HandedConnection>,
        addr: SocketAddr,
    },
}

impl ConnectionSource {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            ConnectionSource::Listener(listener) => listener.local_addr(),
            ConnectionSource::Handed { addr, .. } => Ok(*addr),
        }
    }

    /// The next connection, once a slot is free.
    pub async fn next(&mut self, slots: &Arc<Semaphore>) -> Next {
        // The semaphore is never closed.
        let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
            return Next::Closed;
        };
        match self {
            ConnectionSource::Listener(listener) => match listener.accept().await {
                Ok((stream, peer)) => Next::Connection(Accepted {
                    stream,
                    peer,
                    slot,
                    notice: CloseNotice(None),
                }),
                Err(error) => {
                    // Usually EMFILE/ENFILE: back off instead of spinning on the error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Next::Retry
                }
            },
            ConnectionSource::Handed { connections, .. } => match connections.recv().await {
                Some(handed) => adopt(handed, slot),
                None => Next::Closed,
            },
        }
    }

    /// Stops accepting: a listener is closed (its backlog is left to the processes
    /// that share it). Handed connections are another matter: those a supervisor handed
    /// over before it stopped handing them are owed an answer, so the handoff is kept
    /// until the supervisor closes it (see [`next_handed`]).
    pub fn stop_accepting(self) -> Option<mpsc::Receiver<HandedConnection>> {
        match self {
            ConnectionSource::Listener(_) => None,
            ConnectionSource::Handed { connections, .. } => Some(connections),
        }
    }
}

/// The next connection still handed over after the server stopped accepting; `None`
/// once the supervisor has closed the handoff.
pub(crate) async fn next_handed(
    connections: &mut mpsc::Receiver<HandedConnection>,
    slots: &Arc<Semaphore>,
) -> Option<Accepted> {
    loop {
        let slot = Arc::clone(slots).acquire_owned().await.ok()?;
        match adopt(connections.recv().await?, slot) {
            Next::Connection(accepted) => return Some(accepted),
            Next::Retry | Next::Closed => continue,
        }
    }
}

fn adopt(handed: HandedConnection, slot: OwnedSemaphorePermit) -> Next {
    let HandedConnection { stream, on_close } = handed;
    let notice = CloseNotice(on_close);
    let adopted = stream
        .set_nonblocking(true)
        .and_then(|()| TcpStream::from_std(stream))
        .and_then(|stream| stream.peer_addr().map(|peer| (stream, peer)));
    match adopted {
        Ok((stream, peer)) => Next::Connection(Accepted {
            stream,
            peer,
            slot,
            notice,
        }),
        // The client left before we got to it: nothing to serve.
        Err(error) => {
            tracing::debug!(%error, "a handed connection was already closed");
            Next::Retry
        }
    }
}
