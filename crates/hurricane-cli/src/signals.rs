//! SIGTERM and SIGINT.

use tokio::sync::oneshot;

/// The signal that asked hurricane to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Kubernetes (or a process supervisor) stopping the container: drain with the
    /// shutdown delay.
    Terminate,
    /// Ctrl-C: drain without the delay.
    Interrupt,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Interrupt => "SIGINT",
        }
    }
}

/// The first and the second stop signal.
pub struct StopSignals {
    /// Resolves on the first SIGTERM or SIGINT: stop gracefully.
    pub first: oneshot::Receiver<StopSignal>,
    /// Resolves on the next one (someone pressing Ctrl-C again): stop now.
    pub second: oneshot::Receiver<StopSignal>,
}

/// Installs the handlers. Until this runs, SIGTERM and SIGINT end the process at once,
/// which is right for the start-up work done before it. Call within the runtime.
pub fn watch() -> StopSignals {
    use tokio::signal::unix::{signal, SignalKind};
    let (first_tx, first) = oneshot::channel();
    let (second_tx, second) = oneshot::channel();
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; SIGTERM will not shut down gracefully");
        // Keep the senders alive so that neither receiver ever resolves.
        std::mem::forget((first_tx, second_tx));
        return StopSignals { first, second };
    };
    tokio::spawn(async move {
        for notify in [first_tx, second_tx] {
            let received = tokio::select! {
                _ = terminate.recv() => StopSignal::Terminate,
                _ = interrupt.recv() => StopSignal::Interrupt,
            };
            tracing::info!(signal = received.name(), "Received {}", received.name());
            let _ = notify.send(received);
        }
    });
    StopSignals { first, second }
}
