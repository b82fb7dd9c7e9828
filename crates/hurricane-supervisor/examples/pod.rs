//! `hurricane-supervisor` on its own: a pod of two copies of a plain Rust server, no
//! Python. The program is both sides: started by hand it supervises; started by the
//! supervisor (it finds the sockets handed down) it serves.
//!
//! ```text
//! cargo run -p hurricane-supervisor --example pod              # free ports, printed
//! curl http://127.0.0.1:PORT/       # "served by process N": the pids take turns
//! curl http://127.0.0.1:PROBE_PORT/ready
//! kill -9 <a pid>                   # replaced at once; the other keeps serving
//! ```

use std::error::Error;
use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hurricane_core::{Handler, ResponseBody, Server, ServerConfig};
use hurricane_probe::ProbeConfig;
use hurricane_supervisor::{
    handoff, inherited_sockets, notify_ready, Pod, PodConfig, SocketRole, StopRequest,
};
use tokio::sync::mpsc;

/// Answers every request with this process's id.
struct Pid;

impl Handler for Pid {
    async fn call(&self, _: Request<Bytes>) -> Response<ResponseBody> {
        let text = format!("served by process {}\n", std::process::id());
        Response::new(ResponseBody::full(Bytes::from(text)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    match inherited_sockets() {
        Some(sockets) => serve(sockets).await,
        None => supervise().await,
    }
}

/// The supervisor: the ports, and two processes of this same program behind them.
async fn supervise() -> Result<(), Box<dyn Error>> {
    let addr = std::env::var("EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let app = TcpListener::bind(&addr)?;
    let probes = TcpListener::bind((app.local_addr()?.ip(), 0))?;
    println!(
        "pod on http://{} (probes on http://{})",
        app.local_addr()?,
        probes.local_addr()?
    );
    let program = std::env::current_exe()?;
    let config = PodConfig {
        processes: 2,
        probes: ProbeConfig {
            // The servers below have no metrics of their own.
            paths: hurricane_probe::ProbePaths {
                metrics: None,
                ..Default::default()
            },
            ..Default::default()
        },
        graceful_timeout: Duration::from_secs(5),
    };
    let command = Box::new(move || std::process::Command::new(&program));
    let (_reload, reloads) = mpsc::unbounded_channel();
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        Some(StopRequest {
            signal: libc::SIGINT,
            accept_for: Duration::ZERO,
        })
    };
    Pod::new(app, Some(probes), command, config)
        .run(reloads, stop, std::future::pending())
        .await?;
    Ok(())
}

/// One of the pod's processes: connections from the handoff, a liveness answer on the
/// private probe port, until SIGINT.
async fn serve(sockets: Vec<hurricane_supervisor::InheritedSocket>) -> Result<(), Box<dyn Error>> {
    let mut connections = None;
    let mut probes = None;
    for socket in sockets {
        match socket.role {
            SocketRole::Connections => connections = Some(handoff::receive(socket.fd)?),
            SocketRole::Probes => probes = Some(TcpListener::from(socket.fd)),
            SocketRole::App => {}
        }
    }
    let (Some(connections), Some(probes)) = (connections, probes) else {
        return Err("started without a handoff and a probe port".into());
    };
    let probe_config = ServerConfig::new(probes.local_addr()?);
    let probe_server = Server::from_listener(probes, probe_config)?;
    tokio::spawn(probe_server.serve(Pid, std::future::pending()));
    let config = ServerConfig::new("127.0.0.1:0".parse()?);
    let server = Server::from_handed(connections, config);
    notify_ready(&[]);
    let stopped = async {
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .expect("SIGINT can be handled");
        interrupt.recv().await;
    };
    server.serve(Pid, stopped).await;
    Ok(())
}
