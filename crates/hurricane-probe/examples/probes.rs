//! `hurricane-probe` on its own: the Kubernetes probes and Prometheus metrics on a port
//! of their own, for an application whose checks are plain Rust.
//!
//! ```text
//! cargo run -p hurricane-probe --example probes
//! curl -i http://127.0.0.1:<port>/startup          # 400 for two seconds, then 200
//! curl -i 'http://127.0.0.1:<port>/ready?verbose'  # every check, one per line
//! curl http://127.0.0.1:<port>/metrics             # the Prometheus text format
//! ```
//!
//! `EXAMPLE_ADDR` sets the address (default `127.0.0.1:0`, a free port); Ctrl-C stops:
//! readiness fails from then on while the server drains.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use hurricane_core::{Server, ServerConfig};
use hurricane_probe::{
    CheckResult, CheckRunner, HealthChecks, Lifecycle, Metrics, Probe, ProbeConfig, ProbeService,
    RequestQueue,
};

/// The application's own checks: here, that a file the application needs is there.
struct Checks;

impl HealthChecks for Checks {
    fn run(&self, probe: Probe) -> Vec<CheckResult> {
        // Runs on the runner's own thread: blocking here never holds up a request.
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let result = if std::path::Path::new(config).exists() {
            CheckResult::passed("config-file")
        } else {
            CheckResult::failed("config-file", "config missing", format!("{config} is gone"))
        };
        tracing::debug!(probe = probe.name(), "checks ran");
        vec![result]
    }
}

/// No request ever waits in this example.
struct NoQueue;

impl RequestQueue for NoQueue {
    fn queued(&self) -> usize {
        0
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let lifecycle = Arc::new(Lifecycle::new());
    let metrics = Arc::new(Metrics::new()?);
    let probes = ProbeService::new(ProbeConfig::default(), lifecycle.clone(), metrics);
    probes.attach_application(CheckRunner::start(Arc::new(Checks))?, Arc::new(NoQueue));

    let addr = std::env::var("EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let mut config = ServerConfig::new(addr.parse()?);
    config.name = "probe";
    let server = Server::bind(config).await?;
    println!(
        "probes on http://{}/startup, /alive, /ready and /metrics",
        server.local_addr()?
    );

    // Stands in for the application's start-up: the startup probe fails until it is over.
    let starting = lifecycle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let seconds = starting.mark_started();
        println!("started after {seconds:.1}s");
    });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        lifecycle.start_draining();
    };
    server.serve(probes, shutdown).await;
    Ok(())
}
