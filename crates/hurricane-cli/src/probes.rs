//! What `serve` gets from `hurricane-probe` (cargo feature `probe`): the startup,
//! liveness and readiness probes, the metrics and (feature `webhook`) the webhooks, and
//! where the probes are served: a server of their own, the application's port, or
//! nowhere (`--no-probe`). Without the feature, [`Health`] is the same API doing
//! nothing, so `serve` has no feature switches of its own.

use std::sync::Arc;

use hurricane_core::{RequestObserver, Server, ShutdownOutcome};
use hurricane_wsgi::PythonPool;

use crate::config::ServeConfig;
use crate::ports::ProbePort;
use crate::serve::ServeError;
use crate::startup::AppChecks;
use crate::webhooks::Webhooks;

#[cfg(feature = "probe")]
pub use enabled::{Health, HealthError};

#[cfg(not(feature = "probe"))]
pub use disabled::{Health, HealthError};

/// What `hurricane_info` says about the server.
#[cfg_attr(not(feature = "probe"), allow(dead_code))]
pub struct Serving<'a> {
    pub config: &'a ServeConfig,
    pub port: u16,
    /// The `--command`s, joined.
    pub commands: String,
}

#[cfg(feature = "probe")]
mod enabled {
    use std::time::Duration;

    use hurricane_core::{AccessLog, Handler, ServerConfig};
    use hurricane_probe::{
        CheckRunner, ExceptProbes, Lifecycle, Metrics, MetricsError, ProbeService, ServerInfo,
        WithProbes,
    };
    use tokio::sync::oneshot;

    use super::*;
    use crate::config::ProbeOptions;

    /// Why the probes cannot start.
    #[derive(Debug, thiserror::Error)]
    pub enum HealthError {
        #[error(transparent)]
        Metrics(#[from] MetricsError),
    }

    /// The probes, the metrics and the webhooks of one server.
    pub struct Health {
        lifecycle: Arc<Lifecycle>,
        metrics: Arc<Metrics>,
        webhooks: Webhooks,
        placement: Placement,
    }

    /// Where the probes are served.
    enum Placement {
        Off,
        OnAppPort(ProbeService),
        /// On a server of their own, not yet accepting (see [`Health::started`]).
        Deferred {
            service: ProbeService,
            port: u16,
            server: Box<Server>,
        },
        OwnPort {
            service: ProbeService,
            port: u16,
            stop: oneshot::Sender<()>,
            server: tokio::task::JoinHandle<ShutdownOutcome>,
        },
    }

    impl Health {
        /// The probes on `port`, answering 400 to the startup probe from now on (under a
        /// supervisor, only once [`Health::started`]: the port is shared with the server
        /// being replaced, whose probes must not see this one starting).
        pub fn start(
            config: &ServeConfig,
            port: ProbePort,
            supervised: bool,
            webhooks: Webhooks,
        ) -> Result<Self, ServeError> {
            let lifecycle = Arc::new(Lifecycle::new());
            let metrics = Arc::new(Metrics::new().map_err(HealthError::from)?);
            let placement = match (&config.probes, port) {
                (Some(options), ProbePort::Own(port)) => {
                    let service = service(options, &lifecycle, &metrics, &webhooks);
                    let deferred = deferred(service, options, port.listen()?)?;
                    if supervised {
                        deferred
                    } else {
                        deferred.open()
                    }
                }
                (Some(options), ProbePort::OnAppPort) => {
                    tracing::info!(
                        "Probes will be served on the application port once start-up is over"
                    );
                    Placement::OnAppPort(service(options, &lifecycle, &metrics, &webhooks))
                }
                _ => {
                    tracing::info!("No probe server (--no-probe)");
                    Placement::Off
                }
            };
            Ok(Self {
                lifecycle,
                metrics,
                webhooks,
                placement,
            })
        }

        /// Start-up failed: the startup webhook says so (and waits to be delivered).
        pub async fn startup_failed(&self, traceback: &str) {
            self.webhooks.startup_failed(traceback).await;
        }

        /// The application's checks and queue, for liveness and readiness.
        pub fn attach(&self, checks: AppChecks, pool: &PythonPool) -> Result<(), ServeError> {
            let Some(service) = self.service() else {
                return Ok(());
            };
            let checks = CheckRunner::start(Arc::new(checks)).map_err(ServeError::Threads)?;
            service.attach_application(checks, pool.stats());
            Ok(())
        }

        /// Who hears about application requests: the access log and the metrics.
        /// Requests for the probes, when they share the application's port, are left
        /// out of both (the access log keeps them with `--log-probes`).
        pub fn app_observers(&self, config: &ServeConfig) -> Vec<Arc<dyn RequestObserver>> {
            let access: Arc<dyn RequestObserver> = Arc::new(AccessLog);
            let counted: Arc<dyn RequestObserver> =
                Arc::clone(&self.metrics) as Arc<dyn RequestObserver>;
            let Placement::OnAppPort(service) = &self.placement else {
                return vec![access, counted];
            };
            let paths = service.paths().clone();
            let log_probes = config.probes.as_ref().is_some_and(|p| p.access_log);
            let access = if log_probes {
                access
            } else {
                Arc::new(ExceptProbes::new(paths.clone(), access))
            };
            vec![access, Arc::new(ExceptProbes::new(paths, counted))]
        }

        /// Start-up is over: the startup probe passes, a deferred probe server accepts,
        /// `hurricane_info` is set and the startup webhook sent. Returns the seconds
        /// start-up took.
        pub fn started(&mut self, serving: &Serving<'_>) -> f64 {
            let startup_seconds = self.lifecycle.mark_started();
            let placement = std::mem::replace(&mut self.placement, Placement::Off);
            self.placement = placement.open();
            let files = &serving.config.startup.files;
            self.metrics.set_info(&ServerInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                startup_seconds,
                server_port: serving.port,
                probe_port: self.port(serving.port),
                serve_static: files.serve_static,
                serve_media: files.serve_media,
                commands: serving.commands.clone(),
            });
            self.webhooks.startup_succeeded();
            startup_seconds
        }

        /// Readiness fails from now on (a stop signal came).
        pub fn drain(&self) {
            self.lifecycle.start_draining();
        }

        /// Serves `handler` on `server`, behind the probes when they share its port.
        pub async fn serve<H: Handler>(
            &self,
            server: Server,
            handler: H,
            shutdown: impl std::future::Future<Output = ()>,
        ) -> ShutdownOutcome {
            match &self.placement {
                Placement::OnAppPort(service) => {
                    let service = service.clone();
                    server
                        .serve(WithProbes::new(service, handler), shutdown)
                        .await
                }
                _ => server.serve(handler, shutdown).await,
            }
        }

        /// Stops the probe server once the application has stopped serving.
        pub async fn stop(self) {
            if let Placement::OwnPort { stop, server, .. } = self.placement {
                let _ = stop.send(());
                let _ = server.await;
            }
        }

        /// The metrics as `/metrics` renders them now.
        pub fn metrics_text(&self) -> Option<String> {
            self.service()?.metrics_text()
        }

        fn service(&self) -> Option<&ProbeService> {
            match &self.placement {
                Placement::Off => None,
                Placement::OnAppPort(service)
                | Placement::Deferred { service, .. }
                | Placement::OwnPort { service, .. } => Some(service),
            }
        }

        fn port(&self, app_port: u16) -> Option<u16> {
            match &self.placement {
                Placement::Off => None,
                Placement::OnAppPort(_) => Some(app_port),
                Placement::Deferred { port, .. } | Placement::OwnPort { port, .. } => Some(*port),
            }
        }
    }

    fn service(
        options: &ProbeOptions,
        lifecycle: &Arc<Lifecycle>,
        metrics: &Arc<Metrics>,
        webhooks: &Webhooks,
    ) -> ProbeService {
        let service = ProbeService::new(
            options.config.clone(),
            Arc::clone(lifecycle),
            Arc::clone(metrics),
        );
        webhooks.report_probes_of(&service);
        service
    }

    /// The probe server on `listener`, not accepting yet.
    fn deferred(
        service: ProbeService,
        options: &ProbeOptions,
        listener: std::net::TcpListener,
    ) -> Result<Placement, ServeError> {
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
        Ok(Placement::Deferred {
            service,
            port,
            server: Box::new(server),
        })
    }

    impl Placement {
        /// Starts accepting on a deferred probe server.
        fn open(self) -> Self {
            let Self::Deferred {
                service,
                port,
                server,
            } = self
            else {
                return self;
            };
            let (stop, stopped) = oneshot::channel::<()>();
            let server = tokio::spawn(server.serve(service.clone(), async {
                let _ = stopped.await;
            }));
            Self::OwnPort {
                service,
                port,
                stop,
                server,
            }
        }
    }
}

#[cfg(not(feature = "probe"))]
mod disabled {
    use std::time::Instant;

    use hurricane_core::{AccessLog, Handler};

    use super::*;

    /// Nothing can fail in a build without the probes.
    #[derive(Debug, thiserror::Error)]
    pub enum HealthError {}

    /// No probes, no metrics: this build has no `hurricane-probe`.
    pub struct Health {
        since: Instant,
    }

    impl Health {
        pub fn start(
            _: &ServeConfig,
            _: ProbePort,
            _: bool,
            _: Webhooks,
        ) -> Result<Self, ServeError> {
            Ok(Self {
                since: Instant::now(),
            })
        }

        pub async fn startup_failed(&self, _: &str) {}

        pub fn attach(&self, _: AppChecks, _: &PythonPool) -> Result<(), ServeError> {
            Ok(())
        }

        pub fn app_observers(&self, _: &ServeConfig) -> Vec<Arc<dyn RequestObserver>> {
            vec![Arc::new(AccessLog)]
        }

        pub fn started(&mut self, _: &Serving<'_>) -> f64 {
            self.since.elapsed().as_secs_f64()
        }

        pub fn drain(&self) {}

        pub async fn serve<H: Handler>(
            &self,
            server: Server,
            handler: H,
            shutdown: impl std::future::Future<Output = ()>,
        ) -> ShutdownOutcome {
            server.serve(handler, shutdown).await
        }

        pub fn metrics_text(&self) -> Option<String> {
            None
        }

        pub async fn stop(self) {}
    }
}
