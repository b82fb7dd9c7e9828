//! `--webhook-url` (cargo feature `webhook`): django-hurricane's JSON webhooks on
//! start-up and on every change of the liveness and readiness state, sent by
//! `hurricane-probe`. Without the feature, [`Webhooks`] sends nothing (and the
//! configuration refuses `--webhook-url`).

#[cfg(feature = "webhook")]
pub use enabled::Webhooks;

#[cfg(not(feature = "webhook"))]
pub use disabled::Webhooks;

#[cfg(feature = "webhook")]
mod enabled {
    use hurricane_probe::{Probe, ProbeService, WebhookStatus};

    /// The webhooks, if a URL was given.
    #[derive(Clone)]
    pub struct Webhooks(Option<hurricane_probe::Webhooks>);

    impl Webhooks {
        /// Starts the sender (a task on the current runtime); `version` is the
        /// `HURRICANE_VERSION` setting.
        pub fn start(url: Option<&http::Uri>, version: Option<String>) -> Self {
            Self(url.map(|url| hurricane_probe::Webhooks::start(url.to_string(), version)))
        }

        pub fn startup_succeeded(&self) {
            if let Some(webhooks) = &self.0 {
                webhooks.send(Probe::Startup, WebhookStatus::Succeeded, None);
            }
        }

        /// Sends the failure and waits until it is delivered (the process exits next).
        pub async fn startup_failed(&self, traceback: &str) {
            if let Some(webhooks) = &self.0 {
                webhooks
                    .send_and_wait(Probe::Startup, WebhookStatus::Failed, Some(traceback))
                    .await;
            }
        }

        /// One webhook per change of `service`'s liveness or readiness.
        pub fn report_probes_of(&self, service: &ProbeService) {
            if let Some(webhooks) = &self.0 {
                service.send_webhooks(webhooks.clone());
            }
        }
    }
}

#[cfg(not(feature = "webhook"))]
mod disabled {
    /// No webhooks: this build has no HTTP client for them.
    #[derive(Clone)]
    pub struct Webhooks;

    // Only the probes report to webhooks; a build without them calls nothing here.
    #[cfg_attr(not(feature = "probe"), allow(dead_code))]
    impl Webhooks {
        pub fn start(_: Option<&http::Uri>, _: Option<String>) -> Self {
            Self
        }

        pub fn startup_succeeded(&self) {}

        pub async fn startup_failed(&self, _: &str) {}

        #[cfg(feature = "probe")]
        pub fn report_probes_of(&self, _: &hurricane_probe::ProbeService) {}
    }
}
