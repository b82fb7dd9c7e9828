//! Connections handed from the supervisor to a server process over a Unix socket pair.
//!
//! The supervisor accepts every connection itself and sends its descriptor to one
//! server process (`SCM_RIGHTS`, one byte with one descriptor per connection); the
//! server writes one byte back whenever it has closed one, so the supervisor knows how
//! many each process has open and gives the next connection to the one with fewest.
//! When the supervisor stops handing connections to a process it shuts its side for
//! writing: the process serves every connection that was on its way and then sees the
//! end of the handoff, so that none is lost between the two.
//!
//! Why not a shared listening socket: every process would wake for every connection
//! and the busiest one (already running) tends to win the accept, so load piles up on
//! one process (Cloudflare's "Why does one NGINX worker take all the load?"; gunicorn,
//! granian #544). Why not `SO_REUSEPORT`: the kernel hashes connections to a process
//! whatever its load, a stalled process's queue keeps filling, and a closing listener
//! resets the connections queued on it (granian #567). Node's cluster module hands
//! connections from its primary for the same reasons.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hurricane_core::HandedConnection;
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// Connections handed over but not yet taken by the server, before the handoff stops
/// reading more from the socket (the rest wait in the socket's buffer).
const QUEUED: usize = 64;

/// The supervisor's end of one server process's handoff.
#[derive(Debug)]
pub struct Handoff {
    stream: UnixStream,
    open: AtomicUsize,
    /// When the process last closed a connection, or was given one while it had none
    /// open (milliseconds since `created`).
    progress_ms: AtomicU64,
    created: Instant,
}

/// A process with open connections that has closed none for this long looks stuck
/// (wedged, or busy with long requests): it is given new connections only when every
/// other looks stuck too.
const STALLED_AFTER: Duration = Duration::from_secs(1);

impl Handoff {
    /// A new socket pair: the supervisor's end, and the end to hand to the process (as
    /// its `connections` socket).
    pub fn pair() -> io::Result<(Arc<Self>, OwnedFd)> {
        let (ours, theirs) = StdUnixStream::pair()?;
        ours.set_nonblocking(true)?;
        let stream = UnixStream::from_std(ours)?;
        let handoff = Arc::new(Self {
            stream,
            open: AtomicUsize::new(0),
            progress_ms: AtomicU64::new(0),
            created: Instant::now(),
        });
        Ok((handoff, theirs.into()))
    }

    /// Connections handed to the process and not yet closed by it.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether it has open connections and has closed none for a second: it looks
    /// stuck (wedged, or busy with long requests).
    pub fn stalled(&self) -> bool {
        let since = self.elapsed_ms() - self.progress_ms.load(Ordering::Relaxed);
        self.open() > 0 && since > STALLED_AFTER.as_millis() as u64
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn progressed(&self) {
        self.progress_ms.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    /// Hands `connection` to the process. On an error (the process is gone) the
    /// connection is still the caller's.
    pub async fn send(&self, connection: &impl AsRawFd) -> io::Result<()> {
        let fd = connection.as_raw_fd();
        // Counted before it is sent: its close notice may come back (on another thread
        // of a multi-threaded runtime) before `async_io` returns.
        if self.open.fetch_add(1, Ordering::Relaxed) == 0 {
            self.progressed();
        }
        let sent = self
            .stream
            .async_io(Interest::WRITABLE, || {
                send_descriptor(self.stream.as_raw_fd(), fd)
            })
            .await;
        if sent.is_err() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// Counts the process's close notices until it closes its end (it exited).
    pub async fn count_closes(&self) {
        let mut buffer = [0u8; 256];
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            match self.stream.try_read(&mut buffer) {
                Ok(0) => return,
                Ok(closed) => {
                    self.progressed();
                    // Saturating: a notice can never outnumber what was sent, but a
                    // counter that wrapped would route nothing to this process.
                    let _ = self
                        .open
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                            Some(open.saturating_sub(closed))
                        });
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }

    /// No more connections for this process: it serves those on their way, then sees
    /// the handoff end.
    pub fn finish(&self) {
        // SAFETY: shutdown(2) on a socket this value owns.
        unsafe {
            libc::shutdown(self.stream.as_raw_fd(), libc::SHUT_WR);
        }
    }
}

/// The server's side: the connections arriving on the inherited `connections` socket.
/// The channel closes when the supervisor finishes the handoff (or exits).
pub fn receive(socket: OwnedFd) -> io::Result<mpsc::Receiver<HandedConnection>> {
    let socket = StdUnixStream::from(socket);
    socket.set_nonblocking(true)?;
    let socket = Arc::new(UnixStream::from_std(socket)?);
    let (connections, received) = mpsc::channel(QUEUED);
    let (closed, closes) = mpsc::unbounded_channel::<()>();
    tokio::spawn(report_closes(Arc::clone(&socket), closes));
    tokio::spawn(async move {
        loop {
            let fd = socket
                .async_io(Interest::READABLE, || {
                    receive_descriptor(socket.as_raw_fd())
                })
                .await;
            let Ok(Some(fd)) = fd else {
                return; // the end of the handoff, or the supervisor is gone
            };
            let closed = closed.clone();
            let connection =
                HandedConnection::new(std::net::TcpStream::from(fd)).on_close(move || {
                    let _ = closed.send(());
                });
            if connections.send(connection).await.is_err() {
                return; // the server has stopped for good
            }
        }
    });
    Ok(received)
}

/// Writes one byte per closed connection, in batches.
async fn report_closes(socket: Arc<UnixStream>, mut closes: mpsc::UnboundedReceiver<()>) {
    let batch = [0u8; 256];
    while closes.recv().await.is_some() {
        let mut count = 1;
        while count < batch.len() && closes.try_recv().is_ok() {
            count += 1;
        }
        let mut sent = 0;
        while sent < count {
            if socket.writable().await.is_err() {
                return;
            }
            match socket.try_write(&batch[sent..count]) {
                Ok(written) => sent += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// Room for the control message carrying one descriptor, aligned as `cmsghdr` needs.
#[repr(C)]
union ControlBuffer {
    _align: libc::cmsghdr,
    bytes: [u8; 64],
}

fn send_descriptor(socket: RawFd, fd: RawFd) -> io::Result<()> {
    let byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut control = ControlBuffer { bytes: [0; 64] };
    // SAFETY: the message points at `iov` and `control`, which outlive the call; the
    // control buffer has room for one descriptor (CMSG_SPACE of 4 bytes is 24 <= 64).
    let sent = unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.bytes.as_mut_ptr().cast();
        message.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as _;
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        libc::sendmsg(socket, &message, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
    };
    match sent {
        1 => Ok(()),
        0 => Err(io::Error::from(io::ErrorKind::WriteZero)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// One handed descriptor; `None` at the end of the handoff.
fn receive_descriptor(socket: RawFd) -> io::Result<Option<OwnedFd>> {
    loop {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = ControlBuffer { bytes: [0; 64] };
        // SAFETY: as in `send_descriptor`; the kernel writes at most msg_controllen
        // bytes of control data, and the descriptor read from it is new to this process
        // (MSG_CMSG_CLOEXEC), so owning it is sound.
        unsafe {
            let mut message: libc::msghdr = std::mem::zeroed();
            message.msg_iov = &mut iov;
            message.msg_iovlen = 1;
            message.msg_control = control.bytes.as_mut_ptr().cast();
            message.msg_controllen = std::mem::size_of_val(&control.bytes) as _;
            let received = libc::recvmsg(
                socket,
                &mut message,
                libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
            );
            match received {
                0 => return Ok(None),
                n if n < 0 => return Err(io::Error::last_os_error()),
                _ => {}
            }
            let header = libc::CMSG_FIRSTHDR(&message);
            if !header.is_null()
                && (*header).cmsg_level == libc::SOL_SOCKET
                && (*header).cmsg_type == libc::SCM_RIGHTS
            {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
                return Ok(Some(OwnedFd::from_raw_fd(fd)));
            }
            // A byte without a descriptor: not ours to serve; read on.
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use hurricane_core::{Handler, ResponseBody, Server, ServerConfig, ShutdownOutcome};

    use super::*;

    struct Hello;

    impl Handler for Hello {
        async fn call(&self, _: http::Request<bytes::Bytes>) -> http::Response<ResponseBody> {
            http::Response::new(ResponseBody::full("hello"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handed_connection_is_served_and_its_close_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (handoff, theirs) = Handoff::pair().expect("pair");
        let received = receive(theirs).expect("receive");
        let server = Server::from_handed(received, ServerConfig::new(addr));
        let served = tokio::spawn(server.serve(Hello, std::future::pending()));
        tokio::spawn({
            let handoff = Arc::clone(&handoff);
            async move { handoff.count_closes().await }
        });

        let client = std::thread::spawn(move || {
            let mut client = TcpStream::connect(addr).expect("connect");
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut response = String::new();
            client.read_to_string(&mut response).expect("read");
            response
        });
        let (accepted, _) = listener.accept().expect("accept");
        handoff.send(&accepted).await.expect("sent");
        drop(accepted);
        assert!(handoff.open() <= 1, "{} open", handoff.open());

        let response = client.join().expect("the client thread");
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.ends_with("hello"), "{response}");
        for _ in 0..200 {
            if handoff.open() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(handoff.open(), 0, "the close was not reported");

        // Finishing the handoff ends the server, which had nothing left to serve.
        handoff.finish();
        let outcome = tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the server stops once the handoff ends")
            .expect("the server task");
        assert_eq!(outcome, ShutdownOutcome::Drained);
    }
}
