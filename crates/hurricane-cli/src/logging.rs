//! Log output: `tracing` events to stderr, as text (access-log lines in
//! django-hurricane's plain format) or, with `--log-format json`, one JSON object a line
//! for log aggregators.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use hurricane_core::ACCESS_LOG_TARGET;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// `--log-level`: a level or a tracing filter (`info,hurricane::access=warn`), checked
/// when the command line is parsed. Python's level names are accepted too (`WARNING`,
/// `CRITICAL`: what Django's `LOGGING` and django-hurricane's `HURRICANE_LOG_LEVEL`
/// hold), as tracing's nearest level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(String);

impl LogFilter {
    /// Parses `text`, naming what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let directives: Vec<String> = text.split(',').map(python_level_as_tracing).collect();
        let filter = directives.join(",");
        EnvFilter::builder()
            .parse(&filter)
            .map_err(|error| format!("{error} (expected a level such as info or warning, or a tracing filter such as info,hurricane::access=warn)"))?;
        Ok(Self(filter))
    }
}

/// A filter directive (`LEVEL` or `TARGET=LEVEL`) with a Python level name replaced by
/// tracing's.
fn python_level_as_tracing(directive: &str) -> String {
    let (target, level) = match directive.rsplit_once('=') {
        Some((target, level)) => (Some(target), level),
        None => (None, directive),
    };
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn",
        "critical" | "fatal" => "error",
        "notset" => "trace",
        _ => level,
    };
    match target {
        Some(target) => format!("{target}={level}"),
        None => level.to_owned(),
    }
}

/// `--log-format`: how each log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: `2026-12-03T07:00:00Z  INFO hurricane: ...`; access lines as
    /// django-hurricane writes them (`200 GET /hello (127.0.0.1) 1.23ms`).
    #[default]
    Text,
    /// For log aggregators: one JSON object a line, with `timestamp`, `level`, `target`,
    /// `message` and the event's fields (access lines: `method`, `path`, `status`,
    /// `duration_ms`, `client`, `bytes`).
    Json,
}

/// Installs the global subscriber. `HURRICANE_LOG` (a tracing filter) wins over `level`.
///
/// Lines go to stderr through a [`BatchedStderr`]. Keep the returned guard alive until
/// exit; dropping it writes what is left.
pub fn init(level: &LogFilter, format: LogFormat) -> FlushGuard {
    let writer = BatchedStderr::start();
    let guard = FlushGuard(writer.clone());
    let filter = EnvFilter::try_from_env("HURRICANE_LOG")
        .or_else(|_| EnvFilter::try_new(&level.0))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Text => subscriber.event_format(LineFormat::default()).init(),
        LogFormat::Json => subscriber
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    guard
}

/// tracing's default format, except for access-log events, which print their message
/// alone (`200 GET /hello (127.0.0.1) 1.23ms`) instead of repeating every field after it.
#[derive(Default)]
struct LineFormat {
    full: Format,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() != ACCESS_LOG_TARGET {
            return self.full.format_event(context, writer, event);
        }
        let mut message = MessageOnly(String::new());
        event.record(&mut message);
        SystemTime.format_time(&mut writer)?;
        writeln!(
            writer,
            " {:>5} {}: {}",
            event.metadata().level(),
            event.metadata().target(),
            message.0
        )
    }
}

struct MessageOnly(String);

impl Visit for MessageOnly {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use std::fmt::Write;
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// How long an access-log line may wait in memory before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_SIZE: usize = 64 * 1024;

/// A stderr writer for busy servers: access-log lines are only appended to a shared
/// buffer, and a background thread writes it out every [`FLUSH_INTERVAL`] (sooner when it
/// fills). One `write` per batch instead of one per line, and no thread wake-up per line:
/// at thousands of requests a second on two cores, per-line writes cost a fifth of the
/// throughput.
///
/// Every other line (start-up, reloads, warnings, shutdown) is written at once, after
/// the access lines before it: those lines say what happened and when, a supervisor
/// reads them as they come, and a process may end right after writing one.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

struct Shared {
    /// Access lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// Wakes the flusher early when `pending` is full.
    full: Condvar,
    /// Held while writing to stderr, so that batches and immediate lines keep their order.
    output: Mutex<()>,
}

impl BatchedStderr {
    fn start() -> Self {
        let writer = Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::with_capacity(FLUSH_SIZE)),
                full: Condvar::new(),
                output: Mutex::new(()),
            }),
        };
        let flusher = writer.clone();
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || loop {
                {
                    let pending = lock(&flusher.shared.pending);
                    let _ = flusher
                        .shared
                        .full
                        .wait_timeout_while(pending, FLUSH_INTERVAL, |b| b.len() < FLUSH_SIZE);
                }
                flusher.write_through(&[]);
            });
        if spawned.is_err() {
            eprintln!("hurricane: cannot start the log writer thread; logs will be written late");
        }
        writer
    }

    /// Writes the pending access lines, then `line`.
    fn write_through(&self, line: &[u8]) {
        let _output = lock(&self.shared.output);
        let batch = std::mem::replace(
            &mut *lock(&self.shared.pending),
            Vec::with_capacity(FLUSH_SIZE),
        );
        let mut stderr = std::io::stderr().lock();
        for bytes in [batch.as_slice(), line] {
            if !bytes.is_empty() {
                let _ = stderr.write_all(bytes);
            }
        }
    }

    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.shared.pending);
        pending.extend_from_slice(line);
        if pending.len() >= FLUSH_SIZE {
            self.shared.full.notify_one();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One event's writer: batched for access lines, immediate for the rest.
pub struct LineWriter {
    output: BatchedStderr,
    batched: bool,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.batched {
            self.output.append(bytes);
        } else {
            self.output.write_through(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            output: self.clone(),
            batched: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        LineWriter {
            output: self.clone(),
            batched: meta.target() == ACCESS_LOG_TARGET,
        }
    }
}

/// Writes the log lines still in memory when dropped.
pub struct FlushGuard(BatchedStderr);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.write_through(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::LogFilter;

    #[test]
    fn python_level_names_become_tracing_levels() {
        let parsed = |text: &str| LogFilter::parse(text).map(|filter| filter.0);
        assert_eq!(parsed("WARNING").as_deref(), Ok("warn"));
        assert_eq!(parsed("debug").as_deref(), Ok("debug"));
        assert_eq!(
            parsed("info,hurricane::access=CRITICAL").as_deref(),
            Ok("info,hurricane::access=error")
        );
    }

    #[test]
    fn a_filter_that_means_nothing_is_refused() {
        assert!(LogFilter::parse("hurricane=loudly").is_err());
    }
}
