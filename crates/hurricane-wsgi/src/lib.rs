//! The embedded-Python side of hurricane: the only crate that links CPython.
//!
//! It starts the interpreter inside the `hurricane` process (picking up the active
//! virtualenv), loads the application (a Django project through its settings, or any WSGI
//! callable), runs Django's system checks, and serves requests handed over by
//! `hurricane-core` through a strict PEP 3333 bridge.
//!
//! With the cargo feature `probe` (on by default) it also supplies the Python side of the
//! probes: `PythonHealth` implements `hurricane_probe::HealthChecks`, and [`PoolStats`]
//! its `RequestQueue`. Without it, the crate does not depend on `hurricane-probe`.
//!
//! What it is not for: sockets, HTTP parsing, connection timeouts and logging of requests
//! belong to `hurricane-core`; this crate only turns a buffered [`http::Request`] into a
//! call of the WSGI callable and its result into an [`http::Response`], within the
//! request timeout when one is set ([`WsgiHandler::with_timeout`]).
//!
//! # Where the GIL is taken
//! Only on threads that never run tokio tasks, in five places:
//! 1. [`Interpreter::start`], [`Interpreter::check_project_bytecode_by_hash`],
//!    [`Interpreter::setup_django`], [`DjangoProject::hurricane_settings`],
//!    [`DjangoProject::defined_settings`] and the debuggers
//!    ([`Interpreter::start_debugger`], [`Interpreter::connect_pycharm`]), once, on the
//!    main thread at start-up.
//! 2. The rest of start-up ([`DjangoProject`]'s system checks, application, management
//!    commands, migrations and [`DjangoProject::file_settings`], or
//!    [`Interpreter::load_callable`]), on the CLI's
//!    start-up thread, while the probes already answer from Rust.
//! 3. The threads of [`PythonPool`]: each attaches to the interpreter once for its
//!    lifetime and releases the GIL while it waits to be let in to run, and while it waits
//!    for a slow client to take the next chunk of a streaming response. Work that must
//!    run after a response (closing a file response the runtime sent) is queued to the
//!    pool like a request. Each reads its `threading.get_ident()` once, when it starts.
//! 4. The probes' checker thread (`PythonHealth`, run by `hurricane-probe`), attached
//!    for its lifetime and holding the GIL only while a liveness or readiness check runs.
//! 5. With a request timeout, the `python-timeouts` thread: once per request that timed
//!    out while a pool thread ran it, to read that thread's stack
//!    (`sys._current_frames()`). The 504 itself is answered without the GIL.
//!
//! The tokio threads hand requests to the pool through its queue and wait on a oneshot
//! channel, so HTTP I/O never waits for Python.

mod application;
mod bootstrap;
mod bytecode;
mod debugger;
mod django;
mod environ;
mod error;
mod file_wrapper;
mod handler;
#[cfg(feature = "probe")]
mod health;
mod input;
mod interpreter;
mod pool;
mod request;
mod settings;
mod start_response;
mod timeout;

pub use application::{Application, BridgeOptions};
pub use django::{DjangoProject, FileSettings, SettingValue, StaticFinders};
pub use error::{InterpreterError, LoadError, PythonError};
pub use handler::WsgiHandler;
#[cfg(feature = "probe")]
pub use health::PythonHealth;
pub use interpreter::{Interpreter, PythonEnvironment};
pub use pool::{admission, Concurrency, PoolStats, PythonPool};
pub use settings::{resolve_settings_module, SettingsError};
