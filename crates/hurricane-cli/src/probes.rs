//! Where the probes and metrics are served, and who hears about application requests:
//! a probe server of their own, the application's port, or nowhere (`--no-probe`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use hurricane_core::{AccessLog, RequestObserver, Server, ServerConfig, ShutdownOutcome};
use hurricane_probe::{ExceptProbes, Lifecycle, Metrics, ProbeService, Webhooks};

use crate::config::ProbeOptions;
use crate::ports::ProbePort;
use crate::serve::ServeError;

/// The probes, as placed.
pub enum Probes {
    /// `--no-probe`.
    Off,
    /// `--probe-port` equal to `--port`: ahead of the application, on its port.
    OnAppPort(ProbeService),
    /// On a server of their own, not yet accepting (see [`Probes::open`]).
    Deferred {
        service: ProbeService,
        port: u16,
        server: Server,
    },
    /// On a server of their own.
    OwnPort {
        service: ProbeService,
        port: u16,
        /// Stops the probe server.
        stop: oneshot::Sender<()>,
        /// Ends when the probe server has stopped.
        server: tokio::task::JoinHandle<ShutdownOutcome>,
    },
}

/// What the probe service reports on.
pub struct ProbeSources<'a> {
    pub lifecycle: &'a Arc<Lifecycle>,
    pub metrics: &'a Arc<Metrics>,
    pub webhooks: Option<Webhooks>,
}

impl Probes {
    /// The probe service, and its server on `port` when they have a port of their own.
    /// Under a supervisor (`supervised`) that server does not accept yet: see
    /// [`Probes::open`].
    pub fn start(
        options: Option<&ProbeOptions>,
        port: ProbePort,
        supervised: bool,
        sources: ProbeSources<'_>,
    ) -> Result<Self, ServeError> {
        let (Some(options), false) = (options, matches!(port, ProbePort::Off)) else {
            tracing::info!("No probe server (--no-probe)");
            return Ok(Self::Off);
        };
        let service = ProbeService::new(
            options.config.clone(),
            Arc::clone(sources.lifecycle),
            Arc::clone(sources.metrics),
        );
        if let Some(webhooks) = sources.webhooks {
            service.send_webhooks(webhooks);
        }
        let ProbePort::Own(port) = port else {
            tracing::info!("Probes will be served on the application port once start-up is over");
            return Ok(Self::OnAppPort(service));
        };
        let listener = port.listen()?;
        let config = ServerConfig {
            name: "probe",
            // Probes and scrapes are small and quick; a stuck one must not hold up exit.
            graceful_timeout: Duration::from_secs(1),
            ..ServerConfig::new(listener.local_addr().map_err(ServeError::Listener)?)
        };
        let mut server = Server::from_listener(listener, config)?;
        if options.access_log {
            server = server.with_observer(Arc::new(AccessLog));
        }
        let port = server.local_addr()?.port();
        let paths = service.paths();
        let metrics = paths.metrics.as_ref().map_or("(off)", |p| p.as_str());
        tracing::info!(port, startup = %paths.startup, liveness = %paths.liveness,
            readiness = %paths.readiness, metrics, "Starting probe server on port {port}");
        let deferred = Self::Deferred {
            service,
            port,
            server,
        };
        Ok(if supervised {
            deferred
        } else {
            deferred.open()
        })
    }

    /// Starts accepting on a deferred probe server.
    pub fn open(self) -> Self {
        let Self::Deferred {
            service,
            port,
            server,
        } = self
        else {
            return self;
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(server.serve(service.clone(), async {
            let _ = stop_rx.await;
        }));
        Self::OwnPort {
            service,
            port,
            stop: stop_tx,
            server,
        }
    }

    pub fn service(&self) -> Option<&ProbeService> {
        match self {
            Self::Off => None,
            Self::OnAppPort(service)
            | Self::Deferred { service, .. }
            | Self::OwnPort { service, .. } => Some(service),
        }
    }

    /// The probes' port, given the application's.
    pub fn port(&self, app_port: u16) -> Option<u16> {
        match self {
            Self::Off => None,
            Self::OnAppPort(_) => Some(app_port),
            Self::Deferred { port, .. } | Self::OwnPort { port, .. } => Some(*port),
        }
    }

    /// The probe service when it answers ahead of the application, on its port.
    pub fn on_app_port(&self) -> Option<ProbeService> {
        match self {
            Self::OnAppPort(service) => Some(service.clone()),
            _ => None,
        }
    }

    /// Who hears about application requests: the access log and the metrics. Requests
    /// for the probes, when they share the application's port, are left out of both (the
    /// access log keeps them with `access_log_probes`).
    pub fn app_observers(
        &self,
        metrics: &Arc<Metrics>,
        access_log_probes: bool,
    ) -> Vec<Arc<dyn RequestObserver>> {
        let access: Arc<dyn RequestObserver> = Arc::new(AccessLog);
        let counted: Arc<dyn RequestObserver> = Arc::clone(metrics) as Arc<dyn RequestObserver>;
        let service = match self {
            Self::Off => return vec![access],
            Self::Deferred { .. } | Self::OwnPort { .. } => return vec![access, counted],
            Self::OnAppPort(service) => service,
        };
        let paths = service.paths().clone();
        let access = if access_log_probes {
            access
        } else {
            Arc::new(ExceptProbes::new(paths.clone(), access))
        };
        vec![access, Arc::new(ExceptProbes::new(paths, counted))]
    }

    /// Stops the probe server once the application has stopped serving.
    pub async fn stop(self) {
        if let Self::OwnPort { stop, server, .. } = self {
            let _ = stop.send(());
            let _ = server.await;
        }
    }
}
