//! The ports `serve` (or the `--autoreload` supervisor) listens on, taken before Python
//! starts: a port in use is reported at once, naming the option that chose it, instead
//! of after seconds of imports and system checks.
//!
//! A port is taken by binding a socket without listening on it ([`Reserved`]): the port
//! is ours, and clients are refused, as before, until start-up is over and the server
//! calls [`Reserved::listen`].

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::{NoProbePort, ProbePlacement, ServeArgs};

/// Connections the kernel queues for a listener (tokio's default).
const BACKLOG: i32 = 1024;

/// Why a port cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on {addr} (--port {port}): {source}; is another process using the port?"
    )]
    App {
        addr: SocketAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} for the probes ({option}): {source}; choose a free port with --probe-port, or turn the probes off with --no-probe")]
    Probes {
        addr: SocketAddr,
        /// `--probe-port 8101`, or `--probe-port (port + 1) 8101` when defaulted.
        option: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    NoProbePort(#[from] NoProbePort),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
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
            .map_err(|source| BindError::Listen { addr, source })
    }
}

/// A port to serve on: taken by this process, or handed down by a supervisor.
#[derive(Debug)]
pub enum Port {
    Reserved(Reserved),
    /// Already listening (`LISTEN_FDS`).
    Inherited(TcpListener),
}

impl Port {
    pub fn listen(self) -> Result<TcpListener, BindError> {
        match self {
            Port::Reserved(reserved) => reserved.listen(),
            Port::Inherited(listener) => Ok(listener),
        }
    }

    fn requested(&self) -> Option<SocketAddr> {
        match self {
            Port::Reserved(reserved) => Some(reserved.requested),
            Port::Inherited(_) => None,
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
    /// Takes the ports `args` name, the application's first, so that a clash on both is
    /// reported for the port the user typed.
    pub fn reserve(args: &ServeArgs) -> Result<Self, BindError> {
        let addr = SocketAddr::new(args.host, args.port);
        let app = Reserved::bind(addr).map_err(|source| BindError::App {
            addr,
            port: args.port,
            source,
        })?;
        let probes = match args.probe_placement()? {
            ProbePlacement::Off => ProbePort::Off,
            ProbePlacement::OnAppPort => ProbePort::OnAppPort,
            ProbePlacement::Port(port) => {
                let addr = SocketAddr::new(args.host, port);
                let reserved = Reserved::bind(addr).map_err(|source| BindError::Probes {
                    addr,
                    option: probe_option(args, port),
                    source,
                })?;
                ProbePort::Own(Port::Reserved(reserved))
            }
        };
        Ok(Self {
            app: Port::Reserved(app),
            probes,
        })
    }

    /// The sockets a supervisor handed down, placed as `args` place the probes.
    pub fn inherited(
        app: TcpListener,
        probes: Option<TcpListener>,
        args: &ServeArgs,
    ) -> Result<Self, BindError> {
        let probes = match (args.probe_placement()?, probes) {
            (ProbePlacement::Port(_), Some(listener)) => ProbePort::Own(Port::Inherited(listener)),
            (ProbePlacement::OnAppPort, _) => ProbePort::OnAppPort,
            _ => ProbePort::Off,
        };
        Ok(Self {
            app: Port::Inherited(app),
            probes,
        })
    }

    /// These ports again if `args` (now with the Django settings applied) still ask for
    /// them, else the ports they ask for now.
    pub fn reserve_again_if_changed(self, args: &ServeArgs) -> Result<Self, BindError> {
        let app_changed = self
            .app
            .requested()
            .is_some_and(|addr| addr != SocketAddr::new(args.host, args.port));
        let probes_changed = match (&self.probes, args.probe_placement()?) {
            (ProbePort::Off, ProbePlacement::Off)
            | (ProbePort::OnAppPort, ProbePlacement::OnAppPort) => false,
            (ProbePort::Own(port), ProbePlacement::Port(wanted)) => port
                .requested()
                .is_some_and(|addr| addr != SocketAddr::new(args.host, wanted)),
            _ => true,
        };
        if !(app_changed || probes_changed) || matches!(self.app, Port::Inherited(_)) {
            return Ok(self);
        }
        drop(self);
        Self::reserve(args)
    }
}

/// How the user chose the probe port, for messages.
fn probe_option(args: &ServeArgs, port: u16) -> String {
    match args.probe_port {
        Some(_) => format!("--probe-port {port}"),
        None => format!("--probe-port (port + 1) {port}"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve_args(args: &[&str]) -> ServeArgs {
        let argv = ["hurricane", "serve", "--host", "127.0.0.1"];
        let Command::Serve(args) = Cli::parse_from(argv.iter().chain(args)).command;
        args
    }

    /// A port nobody listens on, for the rest of the test (this listener closed).
    fn unused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    }

    #[test]
    fn a_reserved_port_refuses_until_it_listens() {
        let ports = Ports::reserve(&serve_args(&["--port", "0", "--no-probe"])).expect("free");
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
        let error = Ports::reserve(&serve_args(&["--port", &port.to_string(), "--no-probe"]))
            .expect_err("in use");
        assert!(
            error.to_string().contains(&format!("(--port {port})")),
            "{error}"
        );

        let app = unused_port();
        let error = Ports::reserve(&serve_args(&[
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
        let first = serve_args(&["--port", &unused_port().to_string(), "--no-probe"]);
        let ports = Ports::reserve(&first).expect("free");
        let moved = serve_args(&["--port", &unused_port().to_string(), "--no-probe"]);
        let ports = ports.reserve_again_if_changed(&moved).expect("free");
        let Port::Reserved(reserved) = ports.app else {
            panic!("not reserved")
        };
        assert_eq!(reserved.requested.port(), moved.port);
    }
}
