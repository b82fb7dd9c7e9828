//! Running one request through the WSGI application (on a pool thread, GIL held).

use bytes::{Bytes, BytesMut};
use http::Request;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple};

use crate::file_wrapper::FileWrapper;
use crate::handler::Bridge;
use crate::start_response::{chunk_bytes, Reply, ResponseError, StartResponse};
use crate::{bootstrap, environ, Application};

/// Calls the application for `request` and sends its response through `reply`.
///
/// Whatever happens, the response ends (a 500 if the application fails before its head
/// was sent, with the traceback as its body under `tracebacks`; an aborted body after)
/// and the returned iterable's `close()` is called once the response is over, also when
/// the client went away.
pub(crate) fn run(
    py: Python<'_>,
    bridge: &Bridge,
    request: Request<Bytes>,
    reply: Reply,
    runtime: &tokio::runtime::Handle,
) {
    let app = &bridge.app;
    if reply.is_closed() {
        // The client left while the request waited for a thread.
        return;
    }
    let target = RequestTarget::of(&request);
    let is_head = request.method() == http::Method::HEAD;
    let start_response = match Bound::new(py, StartResponse::new(reply, is_head)) {
        Ok(start_response) => start_response,
        Err(error) => {
            target.report(py, &error, "could not create start_response");
            return;
        }
    };
    let template = app.environ_template.bind(py);
    let called = environ::build(py, template, &app.options.script_name, request)
        .and_then(|environ| app.callable.bind(py).call1((environ, &start_response)));
    let iterable = match called {
        Ok(iterable) => iterable,
        Err(error) => {
            let traceback = target.report(py, &error, "the WSGI application raised an exception");
            return start_response.get().fail(py, app.error_body(traceback));
        }
    };
    let sent = send(py, &start_response, &iterable);
    if let Ok(Sent::File(file)) = sent {
        // The runtime sends the file; `close()` waits until it is done.
        let iterable = iterable.unbind();
        let pool = bridge.pool.clone();
        let after = move || {
            pool.submit(Box::new(move |py| close(py, iterable.bind(py), &target)));
        };
        let sink = start_response.get();
        if let Err(error) = sink.stream_file(file, runtime, after) {
            tracing::error!(target: "hurricane::wsgi", %error, "cannot send a file response");
            sink.fail(py, None);
        }
        return;
    }
    if let Err(error) = sent {
        send_failed(py, app, start_response.get(), &target, error);
    }
    close(py, &iterable, &target);
}

/// Ends a response whose body could not be sent: reported, and a 500 if its head was
/// not sent yet (see [`StartResponse::fail`]).
fn send_failed(
    py: Python<'_>,
    app: &Application,
    sink: &StartResponse,
    target: &RequestTarget,
    error: SendError,
) {
    let detail = match error {
        SendError::Python(error) if !sink.is_finished() => {
            app.error_body(target.report(py, &error, "the WSGI response failed"))
        }
        SendError::Response(ResponseError::NoStartResponse) => {
            let problem = "the WSGI application returned a body without calling start_response()";
            tracing::error!(
                target: "hurricane::wsgi",
                method = %target.method,
                path = %target.uri.path(),
                "{problem}"
            );
            app.error_body(format!("{problem}\n"))
        }
        _ => None,
    };
    sink.fail(py, detail);
}

enum SendError {
    Python(PyErr),
    Response(ResponseError),
}

impl From<PyErr> for SendError {
    fn from(error: PyErr) -> Self {
        Self::Python(error)
    }
}

impl From<ResponseError> for SendError {
    fn from(error: ResponseError) -> Self {
        Self::Response(error)
    }
}

/// How the response went out.
enum Sent {
    /// Completely, through Python.
    Done,
    /// Not yet: it is a regular file for the runtime to send.
    File(std::fs::File),
}

/// Sends what the application returned, unless it is a file the runtime should send.
fn send(
    py: Python<'_>,
    start_response: &Bound<'_, StartResponse>,
    iterable: &Bound<'_, PyAny>,
) -> Result<Sent, SendError> {
    let sink = start_response.get();
    if let Ok(wrapper) = iterable.cast::<FileWrapper>() {
        if let Some(file) = wrapper.borrow().open_regular_file(py) {
            return Ok(Sent::File(file));
        }
    }
    if is_complete_in_memory(py, iterable) {
        // A Django HttpResponse or a list: join it and send it in one piece, with
        // Content-Length.
        let mut chunks = iterable.try_iter()?;
        let body = match chunks.next().transpose()? {
            None => Bytes::new(),
            Some(first) => {
                let first = chunk_bytes(&first)?;
                match chunks.next().transpose()? {
                    None => first,
                    Some(second) => {
                        let mut joined = BytesMut::from(first.as_ref());
                        joined.extend_from_slice(&chunk_bytes(&second)?);
                        for chunk in chunks {
                            joined.extend_from_slice(&chunk_bytes(&chunk?)?);
                        }
                        joined.freeze()
                    }
                }
            }
        };
        sink.finish(py, Some(body))?;
        return Ok(Sent::Done);
    }
    // Anything else may be a long or endless stream: send each chunk as it comes.
    for chunk in iterable.try_iter()? {
        if sink.send_chunk(py, chunk_bytes(&chunk?)?).is_err() {
            // The client is gone; stop producing.
            return Ok(Sent::Done);
        }
    }
    sink.finish(py, None)?;
    Ok(Sent::Done)
}

/// Whether the response body is already complete in memory, so waiting for its end
/// delays nothing: a list or tuple, or a Django response that is not streaming.
fn is_complete_in_memory(py: Python<'_>, iterable: &Bound<'_, PyAny>) -> bool {
    iterable.is_exact_instance_of::<PyList>()
        || iterable.is_exact_instance_of::<PyTuple>()
        || iterable
            .getattr(intern!(py, "streaming"))
            .is_ok_and(|streaming| {
                streaming.is_exact_instance_of::<PyBool>() && !streaming.is_truthy().unwrap_or(true)
            })
}

/// Calls `close()` on the iterable if it has one (PEP 3333: always, exactly once).
fn close(py: Python<'_>, iterable: &Bound<'_, PyAny>, target: &RequestTarget) {
    if iterable.is_exact_instance_of::<PyList>() {
        return;
    }
    if let Ok(close) = iterable.getattr(intern!(py, "close")) {
        if let Err(error) = close.call0() {
            target.report(
                py,
                &error,
                "close() of the WSGI response raised an exception",
            );
        }
    }
}

/// The request, as named in error logs.
pub(crate) struct RequestTarget {
    pub(crate) method: http::Method,
    pub(crate) uri: http::Uri,
}

impl RequestTarget {
    /// Cheap: both are reference-counted or inline, so nothing is copied unless an error
    /// is actually reported.
    pub(crate) fn of(request: &Request<Bytes>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
        }
    }

    /// Logs `error` with its traceback, and returns the traceback.
    fn report(&self, py: Python<'_>, error: &PyErr, what: &str) -> String {
        let traceback = bootstrap::traceback(py, error);
        tracing::error!(
            target: "hurricane::wsgi",
            method = %self.method,
            path = %self.uri.path(),
            "{what} ({} {}):\n{traceback}",
            self.method,
            self.uri.path(),
        );
        traceback
    }
}
