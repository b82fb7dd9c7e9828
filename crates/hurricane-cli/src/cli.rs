//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A Kubernetes-native application server for Django.
#[derive(Debug, Parser)]
#[command(name = "hurricane", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Django project (run it in the directory that holds manage.py) or a WSGI app.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: std::net::IpAddr,

    /// Port of the application server.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Django settings module [default: $DJANGO_SETTINGS_MODULE, else the one manage.py names].
    #[arg(long, value_name = "MODULE")]
    pub settings: Option<String>,

    /// A directory to add to the Python path (repeatable); the working directory is always on it.
    #[arg(long, value_name = "DIR")]
    pub pythonpath: Vec<PathBuf>,

    /// Serve this WSGI callable instead of a Django project, e.g. `app:app` (Django-only features are off).
    #[arg(long, value_name = "MODULE:CALLABLE")]
    pub app: Option<String>,

    /// Most Python threads running requests at once. Each Django thread holds its own
    /// database connection, so this is also the most database connections the process
    /// opens. Only as many run as the load needs: one while requests compute, more while
    /// they wait on the database or the network (see hurricane-wsgi's `PythonPool`).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: u16,

    /// Threads doing network I/O [default: one less than the CPU count, at least 1, so
    /// one core stays free for the Python thread holding the GIL].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub io_threads: Option<u16>,

    /// Largest request body in bytes; larger bodies are answered with 413.
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_size: u64,

    /// Largest request head (request line and headers) in bytes; larger heads get 431.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_header_size: usize,

    /// Seconds a client has to send a complete request head.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub header_read_timeout: f64,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub graceful_timeout: f64,

    /// URL prefix the application is mounted under (WSGI SCRIPT_NAME), e.g. /api.
    #[arg(long, default_value = "", value_name = "PATH", value_parser = root_path)]
    pub root_path: String,

    /// Skip Django's system checks at start.
    #[arg(long)]
    pub skip_checks: bool,

    /// Log level, or a tracing filter such as `info,hurricane::access=warn` ($HURRICANE_LOG wins).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
}

fn positive_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("{value:?} is not a number of seconds")),
    }
}

fn root_path(value: &str) -> Result<String, String> {
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err(format!("{value:?} must start with '/'"));
    }
    Ok(trimmed.to_owned())
}
