//! Log output: `tracing` events to stderr, with access-log lines in django-hurricane's
//! plain format.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `HURRICANE_LOG` (a tracing filter) wins over `level`.
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_env("HURRICANE_LOG")
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(LineFormat::default())
        .init();
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
