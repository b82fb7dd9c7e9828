//! django-hurricane's JSON webhooks, sent in the background with retries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::Probe;

/// Each delivery attempt gives up after this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits between attempts; one more attempt than there are waits.
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];

/// The `status` of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// `succeeded`
    Succeeded,
    /// `failed`
    Failed,
}

/// The JSON body, with django-hurricane's keys in django-hurricane's order (a receiver
/// written for it may depend on either).
#[derive(Debug, Serialize)]
struct Payload<'a> {
    info: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceback: Option<&'a str>,
    status: WebhookStatus,
    timestamp: u64,
    podname: &'a str,
    version: Option<&'a str>,
}

struct Delivery {
    body: Vec<u8>,
    /// Told when the delivery is over, delivered or not.
    done: Option<oneshot::Sender<()>>,
}

/// Posts webhooks to one URL, in order, from a background task: sending never waits for
/// the receiver. A failed attempt (connection error, timeout, non-2xx answer) is retried
/// twice with backoff, then logged and dropped.
#[derive(Debug, Clone)]
pub struct Webhooks {
    queue: mpsc::UnboundedSender<Delivery>,
    podname: String,
    version: Option<String>,
}

impl Webhooks {
    /// Starts the sender task on the current tokio runtime. `version` is the Django
    /// setting `HURRICANE_VERSION`.
    pub fn start(url: String, version: Option<String>) -> Self {
        let (queue, deliveries) = mpsc::unbounded_channel();
        tokio::spawn(deliver_all(url, deliveries));
        Self {
            queue,
            podname: gethostname::gethostname().to_string_lossy().into_owned(),
            version,
        }
    }

    /// Queues a webhook for `probe`. `traceback` goes with failures that have one.
    pub fn send(&self, probe: Probe, status: WebhookStatus, traceback: Option<&str>) {
        self.enqueue(probe, status, traceback, None);
    }

    /// Queues a webhook and waits until it is delivered or given up (for the last words
    /// of a process about to exit).
    pub async fn send_and_wait(
        &self,
        probe: Probe,
        status: WebhookStatus,
        traceback: Option<&str>,
    ) {
        let (done, delivered) = oneshot::channel();
        self.enqueue(probe, status, traceback, Some(done));
        let _ = delivered.await;
    }

    fn enqueue(
        &self,
        probe: Probe,
        status: WebhookStatus,
        traceback: Option<&str>,
        done: Option<oneshot::Sender<()>>,
    ) {
        let payload = Payload {
            info: match probe {
                Probe::Startup => "Startup webhook",
                Probe::Liveness => "Liveness webhook",
                Probe::Readiness => "Readiness webhook",
            },
            kind: probe.name(),
            traceback,
            status,
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            podname: &self.podname,
            version: self.version.as_deref(),
        };
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "cannot encode a webhook");
                return;
            }
        };
        // The task only ends with the runtime, and then nothing is left to tell.
        let _ = self.queue.send(Delivery { body, done });
    }
}

async fn deliver_all(url: String, mut deliveries: mpsc::UnboundedReceiver<Delivery>) {
    let client = match reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("hurricane/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot create the webhook client; no webhooks will be sent");
            return;
        }
    };
    while let Some(delivery) = deliveries.recv().await {
        deliver(&client, &url, delivery.body).await;
        if let Some(done) = delivery.done {
            let _ = done.send(());
        }
    }
}

async fn deliver(client: &reqwest::Client, url: &str, body: Vec<u8>) {
    let attempts = BACKOFF.len() + 1;
    for attempt in 1..=attempts {
        let sent = client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match sent {
            Ok(_) => {
                tracing::debug!(url, attempt, "webhook delivered");
                return;
            }
            Err(error) if attempt < attempts => {
                tracing::info!(url, attempt, %error, "webhook not delivered; retrying");
                tokio::time::sleep(BACKOFF[attempt - 1]).await;
            }
            Err(error) => {
                tracing::warn!(url, attempts, %error, "webhook not delivered; giving up");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_keeps_django_hurricanes_key_order() {
        let payload = Payload {
            info: "Startup webhook",
            kind: "startup",
            traceback: Some("Traceback ..."),
            status: WebhookStatus::Failed,
            timestamp: 1_795_312_556,
            podname: "web-1",
            version: None,
        };
        let json = serde_json::to_string(&payload).expect("encodes");
        assert_eq!(
            json,
            r#"{"info":"Startup webhook","type":"startup","traceback":"Traceback ...","status":"failed","timestamp":1795312556,"podname":"web-1","version":null}"#
        );
    }
}
