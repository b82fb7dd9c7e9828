//! Log output: `tracing` events to stderr, with access-log lines in django-hurricane's
//! plain format.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `HURRICANE_LOG` (a tracing filter) wins over `level`.
///
/// Lines go to stderr through a [`BatchedStderr`]. Keep the returned guard alive until
/// exit; dropping it writes what is left.
pub fn init(level: &str) -> FlushGuard {
    let writer = BatchedStderr::start();
    let guard = FlushGuard(writer.clone());
    let filter = EnvFilter::try_from_env("HURRICANE_LOG")
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .event_format(LineFormat::default())
        .init();
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
        if event.metadata().target() != "hurricane::access" {
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

/// How long a log line may wait in memory before it is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_SIZE: usize = 64 * 1024;

/// A stderr writer for busy servers: threads that log only append to a shared buffer, and
/// a background thread writes it out every [`FLUSH_INTERVAL`] (sooner when it fills). One
/// `write` per batch instead of one per line, and no thread wake-up per line: at thousands
/// of requests a second on two cores, per-line writes cost a fifth of the throughput.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<(Mutex<Vec<u8>>, Condvar)>,
}

impl BatchedStderr {
    fn start() -> Self {
        let writer = Self {
            shared: Arc::new((Mutex::new(Vec::with_capacity(FLUSH_SIZE)), Condvar::new())),
        };
        let flusher = writer.clone();
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || loop {
                let batch = {
                    let (buffer, wake) = &*flusher.shared;
                    let guard = lock(buffer);
                    let (mut guard, _) = wake
                        .wait_timeout_while(guard, FLUSH_INTERVAL, |b| b.len() < FLUSH_SIZE)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    std::mem::replace(&mut *guard, Vec::with_capacity(FLUSH_SIZE))
                };
                write_out(&batch);
            });
        if spawned.is_err() {
            eprintln!("hurricane: cannot start the log writer thread; logs will be written late");
        }
        writer
    }

    fn flush_now(&self) {
        let batch = std::mem::take(&mut *lock(&self.shared.0));
        write_out(&batch);
    }
}

fn lock(buffer: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_out(batch: &[u8]) {
    if !batch.is_empty() {
        let _ = std::io::stderr().lock().write_all(batch);
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let (buffer, wake) = &*self.shared;
        let mut buffer = lock(buffer);
        buffer.extend_from_slice(bytes);
        if buffer.len() >= FLUSH_SIZE {
            wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Writes the log lines still in memory when dropped.
pub struct FlushGuard(BatchedStderr);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.flush_now();
    }
}
