//! SIGTERM and SIGINT, from the first instruction of `main` to exit.
//!
//! [`install`] runs first in `main`, before Python starts: a signal thread of our own
//! takes both signals from then on. Installing a handler before CPython initialises also
//! keeps Python's `signal` module off SIGINT (it only claims SIGINT while its handler is
//! the default one), so a Ctrl-C never surfaces as a `KeyboardInterrupt` in whatever
//! Python happens to be running.
//!
//! Until the process is ready to drain ([`watch`]), a signal ends it at once: one log
//! line and exit status 0, without waiting for Python, which may be busy importing the
//! settings for seconds. Nothing has been served, so nothing is lost. Kubernetes sends
//! SIGTERM to pods that are still starting, and a developer's Ctrl-C must work at any
//! instant. From [`watch`] on, the first signal and the second one are handed to the
//! server (drain, then stop at once); a third ends the process at once again.

use std::sync::{Mutex, MutexGuard, PoisonError};

use signal_hook::consts::{SIGINT, SIGTERM};
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

    fn from_raw(signal: i32) -> Self {
        if signal == SIGTERM {
            StopSignal::Terminate
        } else {
            StopSignal::Interrupt
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

/// Where the next signal goes.
enum Route {
    /// Still starting: exit at once.
    Starting,
    /// Serving: to these receivers, last first; once they are used up, exit at once.
    Server(Vec<oneshot::Sender<StopSignal>>),
}

static ROUTE: Mutex<Route> = Mutex::new(Route::Starting);

/// Takes SIGTERM and SIGINT on a thread of our own. Call it first in `main`: until
/// [`watch`] is called, either signal ends the process at once (see the module docs).
pub fn install() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("hurricane-signals".into())
        .spawn(move || {
            for raw in signals.forever() {
                deliver(StopSignal::from_raw(raw));
            }
        })?;
    Ok(())
}

/// From now on the process drains on a signal instead of exiting at once: the first
/// SIGTERM or SIGINT resolves `first`, the next one `second`.
pub fn watch() -> StopSignals {
    let (first_tx, first) = oneshot::channel();
    let (second_tx, second) = oneshot::channel();
    // Popped from the end: the first signal takes `first_tx`.
    *route() = Route::Server(vec![second_tx, first_tx]);
    StopSignals { first, second }
}

fn deliver(signal: StopSignal) {
    let name = signal.name();
    let next = match &mut *route() {
        Route::Starting => None,
        Route::Server(waiting) => Some(waiting.pop()),
    };
    match next {
        None => exit_now(signal, format!("start-up interrupted by {name}; exiting")),
        Some(None) => exit_now(signal, format!("{name} again: exiting now")),
        Some(Some(waiter)) => {
            tracing::info!(signal = name, "Received {name}");
            let _ = waiter.send(signal);
        }
    }
}

/// Logs `message` and ends the process without waiting for Python or any other thread.
fn exit_now(signal: StopSignal, message: String) -> ! {
    if tracing::dispatcher::has_been_set() {
        tracing::info!(signal = signal.name(), "{message}");
    } else {
        // Before the log is set up (the command line is still being read).
        eprintln!("hurricane: {message}");
    }
    // Not `std::process::exit`: exit handlers could wait for locks that a thread running
    // Python holds. Log lines other than access lines are written at once, so nothing
    // is lost.
    // SAFETY: _exit(2) ends the process; it touches no memory of ours.
    unsafe { libc::_exit(0) }
}

fn route() -> MutexGuard<'static, Route> {
    ROUTE.lock().unwrap_or_else(PoisonError::into_inner)
}
