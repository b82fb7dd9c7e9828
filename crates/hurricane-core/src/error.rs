//! Why a [`Server`](crate::Server) cannot serve.
//!
//! Error convention of the hurricane crates: a message includes the text of the error
//! that caused it, and that error is not chained as its `source()` too, so printing an
//! error prints every cause exactly once.

use std::net::SocketAddr;

/// Errors that stop a [`Server`](crate::Server) from serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {error} (is another process using the port?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A socket handed over by another process could not be used.
    #[error("cannot serve on the listening socket handed over by the supervisor: {0}")]
    Adopt(std::io::Error),
    /// The listening socket's own address could not be read.
    #[error("cannot read the address of the listening socket: {0}")]
    LocalAddr(std::io::Error),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use crate::{Server, ServerConfig};

    #[tokio::test]
    async fn a_taken_port_names_the_cause_once_in_the_message_and_chains_nothing() {
        let first = Server::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let taken = first.local_addr().unwrap();
        let Err(error) = Server::bind(ServerConfig::new(taken)).await else {
            panic!("binding {taken} twice succeeded");
        };
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("cannot listen on {taken}: ")),
            "{message}"
        );
        assert!(
            message.ends_with(" (is another process using the port?)"),
            "{message}"
        );
        assert!(
            error.source().is_none(),
            "{message}: the cause is chained too"
        );
    }
}
