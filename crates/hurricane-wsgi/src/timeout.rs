//! `--timeout`: a request the application has not started answering in time gets a
//! `504 Gateway Timeout` from Rust, and the stack of the Python thread left running it is
//! logged.
//!
//! The clock starts when the request, its body read, is handed to the application, so
//! the time it waits in the pool's queue for a Python thread counts (a slow upload does
//! not: the server's own limits bound that). Once the response's head is out (a
//! streaming response has started) the deadline no longer applies.
//!
//! A Python thread cannot be stopped: the view goes on, its result (status, headers,
//! body) is dropped when it comes, and meanwhile the thread is stuck (see "Stuck threads"
//! in [`PythonPool`]). A request still queued at its deadline never runs.
//!
//! The 504 never waits for the GIL. The stack is read afterwards on a thread of its own
//! (`python-timeouts`), which takes the GIL once per timed-out request: while it holds
//! it, the stuck thread cannot move on to another request, so the stack read is the one
//! of the request that timed out. (Should a C extension hold the GIL for good, the stacks
//! wait with it; the 504s do not.)

use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use hurricane_core::ResponseBody;
use pyo3::prelude::*;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::bootstrap;
use crate::handler::unavailable;
use crate::pool::{Expired, Job, PythonPool, Ticket};
use crate::request::RequestTarget;

/// The deadline of every request, and the thread that logs the stacks of the requests
/// that miss it.
#[derive(Debug)]
pub(crate) struct RequestTimeout {
    limit: Duration,
    stuck: mpsc::Sender<StuckRequest>,
}

/// A request whose deadline passed while a Python thread ran it.
struct StuckRequest {
    target: RequestTarget,
    limit: Duration,
    ticket: Arc<Ticket>,
    /// The pool thread's index (`python-N`) and `threading.get_ident()`.
    thread: usize,
    ident: Option<u64>,
}

impl RequestTimeout {
    /// Starts the thread that logs stacks; requests get `limit` to start their answer.
    pub(crate) fn start(limit: Duration) -> std::io::Result<Self> {
        let (stuck, requests) = mpsc::channel();
        std::thread::Builder::new()
            .name("python-timeouts".into())
            .spawn(move || {
                // Ends when the handler, and with it the sender, is dropped.
                for request in requests {
                    log_stuck(&request);
                }
            })?;
        Ok(Self { limit, stuck })
    }

    /// Queues `job` (which answers through the sender of `response`) on `pool`, and
    /// waits for its response until the deadline, `arrived` plus the limit.
    pub(crate) async fn answer(
        &self,
        pool: &PythonPool,
        job: Job,
        mut response: oneshot::Receiver<Response<ResponseBody>>,
        arrived: Instant,
        target: RequestTarget,
    ) -> Response<ResponseBody> {
        let ticket = pool.submit_with_deadline(job);
        let Some(deadline) = arrived.checked_add(self.limit) else {
            // Further away than the clock counts: never.
            return response.await.unwrap_or_else(|_| unavailable());
        };
        if let Ok(answer) = tokio::time::timeout_at(deadline, &mut response).await {
            return answer.unwrap_or_else(|_| unavailable());
        }
        // From here on the job cannot answer: its response is dropped when it comes.
        response.close();
        if let Ok(answer) = response.try_recv() {
            return answer; // it came just in time
        }
        let expired = pool.expire(&ticket);
        self.report(expired, ticket, target);
        gateway_timeout(self.limit)
    }

    /// Logs a request past its deadline: at once if it never ran, else (with its
    /// thread's stack) on the `python-timeouts` thread.
    fn report(&self, expired: Expired, ticket: Arc<Ticket>, target: RequestTarget) {
        let timeout_s = self.limit.as_secs_f64();
        let (method, path) = (&target.method, target.uri.path());
        match expired {
            Expired::Queued => tracing::error!(
                target: "hurricane::wsgi",
                %method, path, timeout_s, queued = true,
                "{method} {path} waited {timeout_s} s for a Python thread (--timeout): answered 504; it will not run"
            ),
            Expired::Finished => tracing::error!(
                target: "hurricane::wsgi",
                %method, path, timeout_s,
                "{method} {path} returned no response within {timeout_s} s (--timeout): answered 504"
            ),
            Expired::Running { thread, ident } => {
                let stuck = StuckRequest {
                    target,
                    limit: self.limit,
                    ticket,
                    thread,
                    ident,
                };
                // Only fails once the thread is gone, which it never is while serving.
                let _ = self.stuck.send(stuck);
            }
        }
    }
}

/// Logs a stuck request with the stack of its thread. Takes the GIL (on the
/// `python-timeouts` thread).
fn log_stuck(request: &StuckRequest) {
    let stack = match request.ident {
        Some(ident) => Python::attach(|py| stack_of(py, &request.ticket, ident)),
        None => "(unknown: the thread's identifier could not be read)".to_owned(),
    };
    let method = &request.target.method;
    let path = request.target.uri.path();
    let timeout_s = request.limit.as_secs_f64();
    let thread = format!("python-{}", request.thread);
    tracing::error!(
        target: "hurricane::wsgi",
        %method, path, timeout_s, %thread,
        "{method} {path} did not answer within {timeout_s} s (--timeout): answered 504. \
         Its Python thread {thread} cannot be stopped: it goes on, and its response will be \
         dropped. Its stack (most recent call last):\n{stack}"
    );
}

/// The stack of the thread `ident`, still in `ticket`'s request, formatted as Python's
/// `traceback.format_stack`. Call with the GIL held: the thread cannot return from the
/// request meanwhile.
fn stack_of(py: Python<'_>, ticket: &Ticket, ident: u64) -> String {
    if !ticket.is_stuck() {
        return "(none: its Python call returned before the stack could be read)".to_owned();
    }
    match bootstrap::call(py, "thread_stack", (ident,)).and_then(|s| s.extract()) {
        Ok(Some(stack)) => stack,
        Ok(None) => "(none: the thread runs no Python code)".to_owned(),
        Err(error) => format!("(cannot be read: {})", bootstrap::traceback(py, &error)),
    }
}

/// The answer to a request past its deadline.
fn gateway_timeout(limit: Duration) -> Response<ResponseBody> {
    let body = format!(
        "Gateway Timeout: the application did not answer within {} s\n",
        limit.as_secs_f64()
    );
    let mut response = Response::new(ResponseBody::full(Bytes::from(body)));
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_504_says_how_long_the_application_had() {
        for (limit, said) in [
            (Duration::from_secs(1), "within 1 s\n"),
            (Duration::from_millis(2500), "within 2.5 s\n"),
        ] {
            let response = gateway_timeout(limit);
            assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/plain; charset=utf-8"
            );
            let ResponseBody::Full(Some(body)) = response.into_body() else {
                panic!("not a complete body");
            };
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.starts_with("Gateway Timeout: the application did not answer")
                    && text.ends_with(said),
                "{text}"
            );
        }
    }
}
