//! The ports `serve` (or the `--autoreload` supervisor) listens on, taken before Python
//! starts: a port in use is reported at once, naming the option that chose it, instead
//! of after seconds of imports and system checks.
//!
//! A port is taken by binding a socket without listening on it ([`Reserved`]): the port
//! is ours, and clients are refused, as before, until start-up is over and the server
//! calls [`Reserved::listen`].

use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Listen, ProbePlacement};
use crate::supervised::AppSocket;

/// Connections the kernel queues for a listener (tokio's default).
const BACKLOG: i32 = 1024;

/// Why a port cannot be had. (Each message includes its cause's text; the cause is not
/// chained as a `source` too, so that it is printed once.)
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {addr} (--port {port}): {error}; is another process using the port?", port = addr.port())]
    App {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot listen on {addr} for the probes ({option}): {error}; choose a free port with --probe-port, or turn the probes off with --no-probe")]
    Probes {
        addr: SocketAddr,
        /// `--probe-port 8101`, or `--probe-port (port + 1) 8101` when defaulted.
        option: String,
        error: std::io::Error,
    },
    #[error("the supervisor handed over connections, not a listening socket")]
    NotAListener,
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A socket bound to its port but not listening yet: connections are refused.
#[derive(Debug)]
pub struct Reserved {
    socket: Socket,
    /// As asked for (port 0: any).
    requested: SocketAddr,
}

impl Reserved {
    fn bind(requested: SocketAddr) -> std::io::Result<Self> {
        let socket = Socket::new(
            Domain::for_address(requested),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        // As every server does: a restart must not wait for the last run's TIME_WAIT
        // connections. Linux still refuses the bind while another socket listens there.
        socket.set_reuse_address(true)?;
        socket.bind(&requested.into())?;
        Ok(Self { socket, requested })
    }

    /// Starts listening: connections queue from now on.
    pub fn listen(self) -> Result<TcpListener, BindError> {
        let addr = self.requested;
        self.socket
            .listen(BACKLOG)
            .map(|()| self.socket.into())
            .map_err(|error| BindError::Listen { addr, error })
    }
}

/// A port to serve on: taken by this process, or handed down by a supervisor.
#[derive(Debug)]
pub enum Port {
    Reserved(Reserved),
    /// Already listening (`LISTEN_FDS`).
    Inherited(TcpListener),
    /// Connections handed over by the `--processes` supervisor, never a listener.
    Handoff(OwnedFd),
}

impl Port {
    pub fn listen(self) -> Result<TcpListener, BindError> {
        match self {
            Port::Reserved(reserved) => reserved.listen(),
            Port::Inherited(listener) => Ok(listener),
            Port::Handoff(_) => Err(BindError::NotAListener),
        }
    }

    fn requested(&self) -> Option<SocketAddr> {
        match self {
            Port::Reserved(reserved) => Some(reserved.requested),
            Port::Inherited(_) | Port::Handoff(_) => None,
        }
    }
}

/// Where the probes are served.
#[derive(Debug)]
pub enum ProbePort {
    /// `--no-probe`.
    Off,
    /// On the application's port.
    OnAppPort,
    /// On a port of their own.
    Own(Port),
}

/// The ports of one server.
#[derive(Debug)]
pub struct Ports {
    pub app: Port,
    pub probes: ProbePort,
}

impl Ports {
    /// Takes the ports `listen` names, the application's first, so that a clash on both
    /// is reported for the port the user typed.
    pub fn reserve(listen: &Listen) -> Result<Self, BindError> {
        let addr = listen.app;
        let app = Reserved::bind(addr).map_err(|error| BindError::App { addr, error })?;
        let probes = match listen.probes {
            ProbePlacement::Off => ProbePort::Off,
            ProbePlacement::OnAppPort => ProbePort::OnAppPort,
            ProbePlacement::Port { addr, defaulted } => {
                let reserved = Reserved::bind(addr).map_err(|error| BindError::Probes {
                    addr,
                    option: probe_option(addr.port(), defaulted),
                    error,
                })?;
                ProbePort::Own(Port::Reserved(reserved))
            }
        };
        Ok(Self {
            app: Port::Reserved(app),
            probes,
        })
    }

    /// The sockets a supervisor handed down, placed as `listen` places the probes; a
    /// `--processes` server always has its probes on the private port it was handed,
    /// which only the supervisor reads.
    pub fn inherited(app: AppSocket, probes: Option<TcpListener>, listen: &Listen) -> Self {
        let pod = matches!(app, AppSocket::Handoff(_));
        let probes = match (listen.probes, probes) {
            (_, Some(listener)) if pod => ProbePort::Own(Port::Inherited(listener)),
            (ProbePlacement::Port { .. }, Some(listener)) => {
                ProbePort::Own(Port::Inherited(listener))
            }
            (ProbePlacement::OnAppPort, _) => ProbePort::OnAppPort,
            _ => ProbePort::Off,
        };
        let app = match app {
            AppSocket::Listener(listener) => Port::Inherited(listener),
            AppSocket::Handoff(socket) => Port::Handoff(socket),
        };
        Self { app, probes }
    }

    /// These ports again if `listen` (now with the Django settings applied) still asks
    /// for them, else the ports it asks for now.
    pub fn reserve_again_if_changed(self, listen: &Listen) -> Result<Self, BindError> {
        let app_changed = self.app.requested().is_some_and(|addr| addr != listen.app);
        let probes_changed = match (&self.probes, listen.probes) {
            (ProbePort::Off, ProbePlacement::Off)
            | (ProbePort::OnAppPort, ProbePlacement::OnAppPort) => false,
            (ProbePort::Own(port), ProbePlacement::Port { addr, .. }) => {
                port.requested().is_some_and(|requested| requested != addr)
            }
            _ => true,
        };
        if !(app_changed || probes_changed)
            || matches!(self.app, Port::Inherited(_) | Port::Handoff(_))
        {
            return Ok(self);
        }
        drop(self);
        Self::reserve(listen)
    }
}

/// How the user chose the probe port, for messages.
fn probe_option(port: u16, defaulted: bool) -> String {
    if defaulted {
        format!("--probe-port (port + 1) {port}")
    } else {
        format!("--probe-port {port}")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::config::ServeConfig;

    fn listen(args: &[&str]) -> Listen {
        let argv = ["hurricane", "serve", "--host", "127.0.0.1"];
        let Command::Serve(args) = Cli::parse_from(argv.iter().chain(args)).command;
        ServeConfig::new(&args, false).expect("valid").listen
    }

    /// A port nobody listens on, for the rest of the test (this listener closed).
    fn unused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    }

    #[test]
    fn a_reserved_port_refuses_until_it_listens() {
        let ports = Ports::reserve(&listen(&["--port", "0", "--no-probe"])).expect("free");
        let Port::Reserved(reserved) = ports.app else {
            panic!("not reserved")
        };
        let addr = reserved.socket.local_addr().expect("bound");
        let addr = addr.as_socket().expect("an IP socket");
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "accepted before listen()"
        );
        let listener = reserved.listen().expect("listens");
        assert!(std::net::TcpStream::connect(listener.local_addr().expect("bound")).is_ok());
    }

    #[test]
    fn a_clash_names_the_option_that_chose_the_port() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = taken.local_addr().expect("bound").port();
        let error = Ports::reserve(&listen(&["--port", &port.to_string(), "--no-probe"]))
            .expect_err("in use");
        assert!(
            error.to_string().contains(&format!("(--port {port})")),
            "{error}"
        );

        let app = unused_port();
        let error = Ports::reserve(&listen(&[
            "--port",
            &app.to_string(),
            "--probe-port",
            &port.to_string(),
        ]))
        .expect_err("in use");
        let message = error.to_string();
        assert!(
            message.contains(&format!("(--probe-port {port})")),
            "{message}"
        );
        assert!(message.contains("--no-probe"), "{message}");
    }

    #[test]
    fn settings_that_move_a_port_take_the_new_one() {
        let first = listen(&["--port", &unused_port().to_string(), "--no-probe"]);
        let ports = Ports::reserve(&first).expect("free");
        let moved = listen(&["--port", &unused_port().to_string(), "--no-probe"]);
        let ports = ports.reserve_again_if_changed(&moved).expect("free");
        let Port::Reserved(reserved) = ports.app else {
            panic!("not reserved")
        };
        assert_eq!(reserved.requested, moved.app);
    }
}
