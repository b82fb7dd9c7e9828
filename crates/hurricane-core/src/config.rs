//! [`ServerConfig`]: the address a server listens on and the limits it enforces.

use std::net::SocketAddr;
use std::time::Duration;

use crate::ForwardedAllowIps;

/// How a [`Server`](crate::Server) listens and which limits it enforces.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// What the server is for, as its log lines name it ("application", "probe").
    pub name: &'static str,
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Largest request body accepted, declared or streamed; larger bodies get `413`.
    pub max_body_size: u64,
    /// Largest request head (request line plus headers) in bytes; larger heads get `431`.
    pub max_header_size: usize,
    /// Time a client has to send a complete request head before the connection is closed.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub graceful_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests before it is
    /// closed. Above a load balancer's own idle timeout, so that the balancer closes
    /// first and never sends a request on a connection the server is closing.
    pub keep_alive_timeout: Duration,
    /// Most connections open at once; beyond it, new connections wait in the listen
    /// backlog until one closes. `None`: no limit.
    pub max_connections: Option<usize>,
    /// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` give the client's
    /// address and scheme (see [`ForwardedAllowIps`]).
    pub forwarded_allow_ips: ForwardedAllowIps,
}

impl ServerConfig {
    /// A configuration with hurricane's defaults for the given address: 100 MiB bodies,
    /// 64 KiB heads, 30 seconds to send a head, 30 seconds to drain, 75 seconds of idle
    /// keep-alive (above the 60 seconds of common cloud load balancers, as nginx's
    /// default), no connection limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hurricane_core::ServerConfig;
    ///
    /// let mut config = ServerConfig::new("127.0.0.1:8000".parse()?);
    /// config.max_body_size = 10 * 1024 * 1024;
    /// config.graceful_timeout = Duration::from_secs(5);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            name: "application",
            addr,
            max_body_size: 100 * 1024 * 1024,
            max_header_size: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            graceful_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: None,
            forwarded_allow_ips: ForwardedAllowIps::default(),
        }
    }
}
