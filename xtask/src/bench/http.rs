//! The benchmarks' one HTTP client: `GET` on a fresh TCP connection with
//! `Connection: close` (as the kubelet probes) and a deadline for the whole
//! exchange. The probers, the readiness polls, the static files' byte-for-byte
//! check and the reload polls all go through [`get`].

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub enum HttpError {
    /// No complete answer before the deadline.
    Timeout,
    /// Anything else, said as it is: "could not connect: ...", "I/O error:
    /// ...", "connection closed before a complete answer", "not an HTTP/1.x
    /// response: ...".
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Timeout => f.write_str("no complete answer before the deadline"),
            HttpError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for HttpError {}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// As sent: a chunked body is not decoded.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    found.next().map(|(_, v)| v.as_str())
}

pub type Outcome = Result<Response, HttpError>;

/// "could not connect: ...", or "503 \"<first 80 characters of the body>\"".
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok(r) => {
            let text = String::from_utf8_lossy(&r.body);
            let short: String = text.chars().take(80).collect();
            let more = if text.chars().count() > 80 { "..." } else { "" };
            format!("{} {short:?}{more}", r.status)
        }
        Err(e) => e.to_string(),
    }
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A timeout as such, any other error as `"<what>: <error>"`.
fn io_error(what: &str) -> impl Fn(io::Error) -> HttpError + '_ {
    move |e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Failed(format!("{what}: {e}")),
    }
}

/// `GET path` on a new connection to `addr` (`Connection: close`, plus
/// `headers`, each ending in CRLF), all of it within `timeout`.
pub fn get(addr: SocketAddr, path: &str, headers: &str, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(io_error("could not connect"))?;
    let _ = stream.set_nodelay(true);
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to set_*_timeout.
        (!d.is_zero()).then_some(d).ok_or(HttpError::Timeout)
    };
    let io = io_error("I/O error");
    stream.set_write_timeout(Some(left()?)).map_err(&io)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(&io)?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<Head> = None;
    loop {
        if let Some(h) = head.take_if(|h| h.content_length.is_some_and(|n| buf.len() >= h.len + n))
        {
            return Ok(h.take_response(&buf));
        }
        stream.set_read_timeout(Some(left()?)).map_err(&io)?;
        let n = stream.read(&mut chunk).map_err(&io)?;
        if n == 0 {
            // EOF: fine once the head is in and the body had no length.
            return match head {
                Some(h) if h.content_length.is_none() => Ok(h.take_response(&buf)),
                _ => Err(HttpError::Failed(
                    "connection closed before a complete answer".to_string(),
                )),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        if head.is_none() {
            head = parse_head(&buf)
                .map_err(|why| HttpError::Failed(format!("not an HTTP/1.x response: {why}")))?;
        }
    }
}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Bytes up to and including the blank line.
    pub len: usize,
    /// The body's length, when known before EOF: `Content-Length` (unless
    /// chunked), 0 for 1xx, 204 and 304.
    pub content_length: Option<usize>,
}

impl Head {
    fn take_response(self, buf: &[u8]) -> Response {
        let end = self.content_length.map_or(buf.len(), |n| self.len + n);
        Response {
            status: self.status,
            body: buf[self.len..end].to_vec(),
            headers: self.headers,
        }
    }
}

/// Parse the head of an HTTP/1.x response; `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("no end of the response head in the first 64 KiB".to_string());
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| "the response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| version.starts_with("HTTP/1.") && (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let chunked = header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let declared = header(&headers, "content-length")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| format!("bad Content-Length {v:?}"))
        })
        .transpose()?;
    // A chunked body (or one with no length) runs to EOF: we sent
    // `Connection: close`.
    let content_length = if chunked {
        None
    } else if matches!(status, 100..=199 | 204 | 304) {
        Some(0)
    } else {
        declared
    };
    Ok(Some(Head {
        status,
        headers,
        len: end + 4,
        content_length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn head(raw: &[u8]) -> Head {
        parse_head(raw).expect("valid").expect("complete")
    }

    #[test]
    fn parses_a_complete_head() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nalive";
        let h = head(r);
        assert_eq!((h.status, h.content_length), (200, Some(5)));
        assert_eq!(&r[h.len..], b"alive");
        assert_eq!(h.headers[0], ("Content-Type".into(), "text/plain".into()));
    }

    #[test]
    fn waits_for_the_rest_of_the_head() {
        assert_eq!(
            parse_head(b"HTTP/1.1 400 Bad Request\r\nContent-Le"),
            Ok(None)
        );
        assert_eq!(parse_head(b""), Ok(None));
    }

    #[test]
    fn headers_are_case_insensitive_and_chunked_runs_to_eof() {
        let h = head(b"HTTP/1.0 503 x\r\ncontent-length:  0\r\n\r\n");
        assert_eq!((h.status, h.content_length), (503, Some(0)));
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.content_length, None);
        assert_eq!(
            head(b"HTTP/1.1 204 No Content\r\n\r\n").content_length,
            Some(0)
        );
    }

    #[test]
    fn rejects_what_is_not_http() {
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
    }

    /// A one-shot HTTP server on a free port answering `response` to the
    /// first connection.
    fn serve_once(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req);
                let _ = s.write_all(response);
            }
        });
        addr
    }

    #[test]
    fn gets_status_headers_and_body_from_a_real_socket() {
        let t = Duration::from_secs(2);
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let r = get(addr, "/hello", "", t).expect("answer");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(r.header("content-length"), Some("5"));
        // No length: read to EOF.
        let addr = serve_once(b"HTTP/1.0 503 Unavailable\r\n\r\nbroken");
        let r = get(addr, "/ready", "", t).expect("answer");
        assert_eq!((r.status, r.body.as_slice()), (503, &b"broken"[..]));
        assert_eq!(describe(&Ok(r)), "503 \"broken\"");
        // Closed mid-body.
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nali");
        let closed = describe(&get(addr, "/alive", "", t));
        assert_eq!(closed, "connection closed before a complete answer");
    }

    #[test]
    fn refused_and_silent_servers_fail_clearly() {
        let t = Duration::from_millis(300);
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        let refused = describe(&get(addr, "/alive", "", t));
        assert!(refused.starts_with("could not connect: "), "{refused}");
        // Accepts (backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = silent.local_addr().expect("addr");
        assert!(matches!(
            get(addr, "/alive", "", t),
            Err(HttpError::Timeout)
        ));
        drop(silent);
    }
}
