//! The client behind a proxy: `X-Forwarded-For` and `X-Forwarded-Proto`, believed only
//! from the peers `--forwarded-allow-ips` trusts.
//!
//! Behind an ingress or a load balancer, the peer of every connection is the proxy; the
//! client's address and scheme arrive in headers that anyone could send. So they count
//! only when the peer is trusted, and the client is found as gunicorn and uvicorn find
//! it: `X-Forwarded-For` read from the right, the first address that is not itself a
//! trusted proxy (all trusted: the leftmost). An untrusted peer's headers are left
//! alone; the application still sees them as ordinary `HTTP_X_FORWARDED_*` headers.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

/// The peers whose forwarding headers are believed: `*` (every peer) or a list of
/// addresses and networks. The default, `127.0.0.1,::1`, is gunicorn's: a proxy on the
/// same host (a sidecar).
///
/// ```
/// use hurricane_core::ForwardedAllowIps;
///
/// let ips: ForwardedAllowIps = "10.0.0.0/8, 192.168.1.7".parse().unwrap();
/// assert!(ips.trusts("10.1.2.3".parse().unwrap()));
/// assert!(!ips.trusts("8.8.8.8".parse().unwrap()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardedAllowIps {
    /// `*`: every peer is a trusted proxy.
    All,
    /// Only peers in these networks (a bare address is a /32 or /128).
    Only(Vec<IpNet>),
}

/// A `--forwarded-allow-ips` entry that is neither `*`, an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("{entry:?} is not an IP address or a network (10.0.0.0/8), and not `*`")]
pub struct ForwardedAllowIpsError {
    entry: String,
}

impl Default for ForwardedAllowIps {
    fn default() -> Self {
        let loopback = [
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        ];
        Self::Only(loopback.into_iter().map(IpNet::from).collect())
    }
}

impl FromStr for ForwardedAllowIps {
    type Err = ForwardedAllowIpsError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
        let mut nets = Vec::new();
        for entry in entries {
            if entry == "*" {
                return Ok(Self::All);
            }
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| ForwardedAllowIpsError {
                    entry: entry.to_owned(),
                })?;
            nets.push(net);
        }
        Ok(Self::Only(nets))
    }
}

impl fmt::Display for ForwardedAllowIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Only(nets) => {
                let nets: Vec<String> = nets.iter().map(IpNet::to_string).collect();
                f.write_str(&nets.join(","))
            }
        }
    }
}

impl ForwardedAllowIps {
    /// Whether a peer at `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            Self::All => true,
            Self::Only(nets) => nets.iter().any(|net| net.contains(&ip)),
        }
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> RemoteClient {
        let direct = RemoteClient {
            ip: peer.ip(),
            port: Some(peer.port()),
            scheme: Scheme::Http,
        };
        if !self.trusts(peer.ip()) {
            return direct;
        }
        let scheme = forwarded_scheme(headers).unwrap_or(Scheme::Http);
        match self.forwarded_ip(headers) {
            Some(ip) => RemoteClient {
                ip,
                port: None,
                scheme,
            },
            None => RemoteClient { scheme, ..direct },
        }
    }

    /// `X-Forwarded-For` from the right: the first hop that is not a trusted proxy, or
    /// the leftmost when all are. `None` without the header, or at a hop that is not an
    /// address (`unknown`, a name): what lies left of it cannot be checked.
    fn forwarded_ip(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let value = value.to_str().ok()?;
            hops.extend(value.split(',').map(str::trim).filter(|h| !h.is_empty()));
        }
        let mut leftmost = None;
        for hop in hops.iter().rev() {
            let ip = parse_hop(hop)?;
            if !self.trusts(ip) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
        leftmost
    }
}

/// A hop of `X-Forwarded-For`: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|address| address.ip())
}

/// The last `X-Forwarded-Proto` entry (set by the nearest proxy), if it names a scheme.
fn forwarded_scheme(headers: &HeaderMap) -> Option<Scheme> {
    let value = headers.get_all("x-forwarded-proto").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    match last.to_ascii_lowercase().as_str() {
        "https" | "wss" => Some(Scheme::Https),
        "http" | "ws" => Some(Scheme::Http),
        _ => None,
    }
}

/// Where a request comes from, after the forwarding headers of a trusted proxy: in every
/// request's extensions, next to [`ConnectionInfo`](crate::ConnectionInfo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteClient {
    /// The client's address: the peer's, or the one a trusted proxy forwarded.
    pub ip: IpAddr,
    /// The client's port, when the client is the peer (a proxy forwards no port).
    pub port: Option<u16>,
    /// The scheme the client used: `https` when a trusted proxy says so.
    pub scheme: Scheme,
}

/// The scheme of the client's connection (WSGI's `wsgi.url_scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS, ended at the proxy.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn client(allow: &str, peer: &str, pairs: &[(&'static str, &'static str)]) -> RemoteClient {
        let allow: ForwardedAllowIps = allow.parse().unwrap();
        allow.client(peer.parse().unwrap(), &headers(pairs))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let c = client(
            "127.0.0.1",
            "10.0.0.9:4000",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(c.ip, "10.0.0.9".parse::<IpAddr>().unwrap());
        assert_eq!((c.port, c.scheme), (Some(4000), Scheme::Http));
    }

    #[test]
    fn a_trusted_peer_forwards_the_first_untrusted_hop_from_the_right() {
        let pairs = [
            ("x-forwarded-for", "6.6.6.6, 1.2.3.4"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-proto", "HTTPS"),
        ];
        let c = client("10.0.0.0/8", "10.0.0.1:4000", &pairs);
        assert_eq!(c.ip, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!((c.port, c.scheme), (None, Scheme::Https));
    }

    #[test]
    fn all_trusted_gives_the_leftmost_hop() {
        let c = client(
            "*",
            "10.0.0.1:4000",
            &[("x-forwarded-for", "[2001:db8::1]:80, 9.9.9.9")],
        );
        assert_eq!(c.ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_hop_that_is_no_address_keeps_the_peer() {
        let c = client("*", "10.0.0.1:4000", &[("x-forwarded-for", "unknown")]);
        assert_eq!(c.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.port, Some(4000));
    }

    #[test]
    fn the_default_trusts_loopback_only_and_bad_entries_are_named() {
        let default = ForwardedAllowIps::default();
        assert!(default.trusts("::1".parse().unwrap()));
        assert!(!default.trusts("10.0.0.1".parse().unwrap()));
        assert_eq!(default.to_string(), "127.0.0.1/32,::1/128");
        let error = "10.0.0.0/8, proxy.local"
            .parse::<ForwardedAllowIps>()
            .unwrap_err();
        assert!(error.to_string().contains("\"proxy.local\""), "{error}");
    }
}
