//! Kubernetes probes, Prometheus metrics and webhooks for hurricane.
//!
//! What it is for: telling Kubernetes (and the people running the pod) the truth about
//! the server, from Rust, so that the answer never waits for Python:
//! - [`ProbeService`] answers the startup, liveness and readiness probes and `/metrics`
//!   on a listener of its own (or, with [`WithProbes`], ahead of the application on the
//!   application's port). Status codes and bodies follow django-hurricane 1.6.2, plus
//!   kube-apiserver's `?verbose`.
//! - [`Lifecycle`] is the state the probes report: starting, started, draining.
//! - [`CheckRunner`] runs the application's own checks ([`HealthChecks`], implemented
//!   on the Python side) on one dedicated thread, refreshing them every
//!   [`CHECK_INTERVAL`] while probes come, so that a probe answers from a recent result
//!   (at most [`CHECK_RESULTS_REUSED_FOR`] old) without waiting for the GIL, and fails
//!   when a run overruns its deadline.
//! - [`Metrics`] counts the application's requests (it is a
//!   [`hurricane_core::RequestObserver`]) and renders the Prometheus text format with
//!   process metrics.
//! - [`PodMetrics`] combines the `/metrics` of several hurricane processes into one pod's:
//!   counts summed and kept when a process is replaced, gauges combined family by family.
//! - [`Webhooks`] (cargo feature `webhook`) posts django-hurricane's JSON webhooks with a
//!   timeout and retries, in the background.
//!
//! Example: `examples/probes.rs`, the probe service on its own with checks written in
//! Rust (`cargo run -p hurricane-probe --example probes`).
//!
//! What it is not for: it holds no Python. The application's checks plug in through
//! [`HealthChecks`] and the request queue through [`RequestQueue`]; running management
//! commands and migrations at start-up is the Python crate's job, sequenced by the CLI.

#![forbid(unsafe_code)]

mod check;
mod config;
mod lifecycle;
mod memory;
mod metrics;
mod pod_metrics;
mod report;
mod routes;
mod runner;
mod service;
#[cfg(feature = "webhook")]
mod webhook;

pub use check::{CheckFailure, CheckResult, HealthChecks, Probe, RequestQueue};
pub use config::{ProbeConfig, ProbePath, ProbePaths};
pub use lifecycle::Lifecycle;
pub use memory::resident_memory_bytes;
pub use metrics::{Metrics, MetricsError, ServerInfo, MAX_PATH_LABELS};
pub use pod_metrics::{ParseProblem, PodMetrics, PodMetricsError};
pub use runner::{CheckRunner, CHECK_INTERVAL, CHECK_RESULTS_REUSED_FOR};
pub use service::{ExceptProbes, ProbeService, WithProbes};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookStatus, Webhooks};
