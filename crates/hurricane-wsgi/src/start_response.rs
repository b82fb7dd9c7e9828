//! `start_response` and `write()`: how the application's status, headers and body chunks
//! become an HTTP response.

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use hurricane_core::{channel_body, BodySender, ClientGone, ReasonPhrase, ResponseBody, TrySend};
use pyo3::exceptions::{PyAssertionError, PyConnectionResetError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use tokio::sync::oneshot;

/// Where the response to one request goes: the server's side of the request, waiting.
pub(crate) type Reply = oneshot::Sender<Response<ResponseBody>>;

/// How many chunks of a streaming response may wait for a slow client. Together with the
/// chunk size this bounds the memory a streaming response can take.
const STREAM_CAPACITY: usize = 4;

/// Status and headers as the application gave them to `start_response`, validated.
struct ResponseHead {
    status: StatusCode,
    reason: Option<ReasonPhrase>,
    headers: HeaderMap,
    content_length: Option<u64>,
}

/// Where the response stands.
enum Sink {
    /// Nothing has been sent; the server is waiting for the head.
    Pending(Reply),
    /// The head went out with a streaming body; `remaining` is what is left of the
    /// application's `Content-Length`, if it declared one.
    Streaming {
        body: BodySender,
        remaining: Option<u64>,
    },
    /// The response is over, or the client went away.
    Finished,
}

struct State {
    head: Option<ResponseHead>,
    sink: Sink,
}

/// The `start_response` callable of one request (PEP 3333), also the owner of its response.
///
/// The head is sent only when the first non-empty body chunk is produced, `write()` is
/// called, or the body ends; until then a call with `exc_info` may replace it.
#[pyclass(frozen, module = "hurricane", name = "StartResponse")]
pub(crate) struct StartResponse {
    state: Mutex<State>,
    /// A HEAD request: the application may leave out the body its Content-Length counts.
    is_head: bool,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let mut state = slf.get().lock();
            if state.head.is_some() || !matches!(state.sink, Sink::Pending(_)) {
                let Some(exc_info) = exc_info else {
                    return Err(PyAssertionError::new_err(
                        "start_response() called a second time without exc_info",
                    ));
                };
                if !matches!(state.sink, Sink::Pending(_)) {
                    // Too late to change the response: re-raise, as PEP 3333 says.
                    return Err(PyErr::from_value(exc_info.get_item(1)?));
                }
            }
            state.head = Some(parse_head(status, headers)?);
        }
        slf.getattr(pyo3::intern!(slf.py(), "write"))
    }

    /// PEP 3333's `write()` callable: sends `data` before returning (waiting, with the GIL
    /// released, while the client is slow).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let chunk = chunk_bytes(data)?;
        self.send_chunk(py, chunk)
            .map_err(|_| PyConnectionResetError::new_err("the client closed the connection"))
    }
}

/// Errors of the response as a whole, reported by the request driver.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResponseError {
    #[error("the application produced a body before calling start_response()")]
    NoStartResponse,
    #[error(transparent)]
    ClientGone(#[from] ClientGone),
}

impl StartResponse {
    pub(crate) fn new(reply: Reply, is_head: bool) -> Self {
        Self {
            state: Mutex::new(State {
                head: None,
                sink: Sink::Pending(reply),
            }),
            is_head,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is only held for short, non-panicking bookkeeping; a poisoned lock
        // still holds consistent state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True once the client can no longer receive anything.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.lock().sink, Sink::Finished)
    }

    /// Sends one body chunk, sending the head first if needed. Waits with the GIL released
    /// while the client is slow.
    pub(crate) fn send_chunk(&self, py: Python<'_>, chunk: Bytes) -> Result<(), ResponseError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let (body, chunk) = {
            let mut state = self.lock();
            if matches!(state.sink, Sink::Pending(_)) {
                self.start_stream(&mut state)?;
            }
            let Sink::Streaming { body, remaining } = &mut state.sink else {
                return Err(ClientGone.into());
            };
            // Never send more than the application's own Content-Length.
            let chunk = match remaining {
                Some(0) => return Ok(()),
                Some(left) if chunk.len() as u64 > *left => {
                    let cut = chunk.slice(..*left as usize);
                    *left = 0;
                    cut
                }
                Some(left) => {
                    *left -= chunk.len() as u64;
                    chunk
                }
                None => chunk,
            };
            (body.clone(), chunk)
        };
        let sent = match body.try_send(chunk) {
            TrySend::Sent => Ok(()),
            TrySend::Full(chunk) => py.detach(|| body.blocking_send(chunk)),
            TrySend::Gone => Err(ClientGone),
        };
        if sent.is_err() {
            self.lock().sink = Sink::Finished;
        }
        Ok(sent?)
    }

    /// Sends the head with a streaming body. Called with the state locked.
    fn start_stream(&self, state: &mut State) -> Result<(), ResponseError> {
        let head = state.head.take().ok_or(ResponseError::NoStartResponse)?;
        let Sink::Pending(reply) = std::mem::replace(&mut state.sink, Sink::Finished) else {
            return Ok(());
        };
        let (body, response_body) = channel_body(STREAM_CAPACITY);
        let remaining = head.content_length;
        if reply.send(head.into_response(response_body)).is_ok() {
            state.sink = Sink::Streaming { body, remaining };
        }
        Ok(())
    }

    /// Sends a response whose body is read from `file` by the runtime, without Python,
    /// and calls `after` when it is over (sent, failed or abandoned by the client).
    pub(crate) fn stream_file(
        &self,
        file: std::fs::File,
        runtime: &tokio::runtime::Handle,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<(), ResponseError> {
        let mut state = self.lock();
        if let Err(error) = self.start_stream(&mut state) {
            // The reply stays pending, so that `fail` can still answer 500.
            drop(state);
            after();
            return Err(error);
        }
        match std::mem::replace(&mut state.sink, Sink::Finished) {
            Sink::Streaming { body, remaining } => {
                runtime.spawn(async move {
                    crate::file_wrapper::send_file(file, remaining, body).await;
                    after();
                });
            }
            // The client left before the head could be sent.
            _ => after(),
        }
        Ok(())
    }

    /// Ends the response. `rest` is the whole body when nothing has been sent yet, which
    /// then goes out with `Content-Length`, or the last chunk of a stream.
    pub(crate) fn finish(&self, py: Python<'_>, rest: Option<Bytes>) -> Result<(), ResponseError> {
        let mut state = self.lock();
        match &state.sink {
            Sink::Finished => return Ok(()),
            Sink::Streaming { .. } => {
                drop(state);
                if let Some(rest) = rest {
                    self.send_chunk(py, rest)?;
                }
                // Dropping the sender ends the body. If it is shorter than the declared
                // Content-Length, hyper closes the connection after what was sent.
                self.lock().sink = Sink::Finished;
                return Ok(());
            }
            Sink::Pending(_) => {}
        }
        // Keep the reply while there is no head, so that `fail` can still answer 500.
        let mut head = state.head.take().ok_or(ResponseError::NoStartResponse)?;
        let Sink::Pending(reply) = std::mem::replace(&mut state.sink, Sink::Finished) else {
            return Ok(());
        };
        let mut body = rest.unwrap_or_default();
        match head.content_length {
            Some(declared) if declared < body.len() as u64 => {
                body.truncate(usize::try_from(declared).unwrap_or(usize::MAX));
            }
            Some(declared) if declared > body.len() as u64 && !self.is_head => {
                // Fewer bytes than promised: send them and close the connection, so the
                // client sees the body end early instead of waiting for the rest.
                head.headers
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        let _ = reply.send(head.into_response(ResponseBody::full(body)));
        Ok(())
    }

    /// Ends the response after a failure: a 500 if nothing was sent yet (its body
    /// `detail` when given, else a generic one), otherwise an aborted body so the client
    /// can tell the response is incomplete.
    pub(crate) fn fail(&self, py: Python<'_>, detail: Option<String>) {
        let mut state = self.lock();
        match std::mem::replace(&mut state.sink, Sink::Finished) {
            Sink::Pending(reply) => {
                let _ = reply.send(internal_server_error(detail));
            }
            Sink::Streaming { body, .. } => {
                drop(state);
                py.detach(|| body.blocking_abort("the application failed mid-response".into()));
            }
            Sink::Finished => {}
        }
    }
}

impl ResponseHead {
    fn into_response(self, body: ResponseBody) -> Response<ResponseBody> {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

/// The 500 sent when the application fails before its response started: `detail` (a
/// traceback, with `--debug`) or a generic body.
fn internal_server_error(detail: Option<String>) -> Response<ResponseBody> {
    let body = detail.map_or_else(
        || Bytes::from_static(b"Internal Server Error\n"),
        Bytes::from,
    );
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A body chunk as bytes; PEP 3333 allows nothing else.
pub(crate) fn chunk_bytes(chunk: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    let bytes = chunk.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "a WSGI response chunk must be bytes, not {}",
            chunk
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    Ok(Bytes::copy_from_slice(bytes.as_bytes()))
}

/// Headers the server owns (RFC 9110 §7.6.1); an application's copies are dropped, except
/// that `Connection: close` is honoured.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn parse_head(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<ResponseHead> {
    let status = status
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err("status must be a str such as '200 OK'"))?
        .to_str()?;
    let (status, reason) = parse_status(status)?;
    let mut map = HeaderMap::new();
    let mut content_length = None;
    for item in headers.try_iter()? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| PyTypeError::new_err("each header must be a (name, value) tuple"))?;
        let name = pair.get_item(0)?;
        let value = pair.get_item(1)?;
        let name = name
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("header names must be str"))?
            .to_str()?;
        let value_str = value
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("the value of header {name:?} must be str")))?
            .to_str()?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_bytes(&latin1_bytes(value_str).ok_or_else(|| {
            PyValueError::new_err(format!(
                "the value of header {name} is not latin-1: {value_str:?}"
            ))
        })?)
        .map_err(|_| {
            PyValueError::new_err(format!("invalid value for header {name}: {value_str:?}"))
        })?;
        if is_hop_by_hop(&name) {
            continue;
        }
        if name == header::CONNECTION && !value.as_bytes().eq_ignore_ascii_case(b"close") {
            continue;
        }
        if name == header::CONTENT_LENGTH {
            let length = value_str.trim().parse::<u64>().map_err(|_| {
                PyValueError::new_err(format!("invalid Content-Length {value_str:?}"))
            })?;
            content_length = Some(length);
        }
        map.append(name, value);
    }
    Ok(ResponseHead {
        status,
        reason,
        headers: map,
        content_length,
    })
}

/// `"200 OK"` → 200 and, when the phrase is not the standard one, a custom reason phrase.
fn parse_status(status: &str) -> PyResult<(StatusCode, Option<ReasonPhrase>)> {
    let invalid = || PyValueError::new_err(format!("invalid status {status:?}: expected '200 OK'"));
    let (code, phrase) = status.split_once(' ').ok_or_else(invalid)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let code = code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|c| c.as_u16() >= 100)
        .ok_or_else(invalid)?;
    let reason = match code.canonical_reason() {
        Some(standard) if standard == phrase => None,
        _ if phrase.is_empty() => None,
        _ => Some(ReasonPhrase::try_from(phrase.as_bytes().to_vec()).map_err(|_| invalid())?),
    };
    Ok((code, reason))
}

/// `text` encoded as latin-1 (PEP 3333's "bytes as str"), or `None` if it has other
/// characters. ASCII, the usual case, is borrowed as it is.
fn latin1_bytes(text: &str) -> Option<Cow<'_, [u8]>> {
    if text.is_ascii() {
        return Some(Cow::Borrowed(text.as_bytes()));
    }
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trips_bytes_as_str() {
        assert_eq!(latin1_bytes("caf\u{e9}").as_deref(), Some(&b"caf\xe9"[..]));
        assert_eq!(latin1_bytes("\u{20ac}"), None);
    }

    #[test]
    fn hop_by_hop_headers_are_recognised() {
        assert!(is_hop_by_hop(&header::TRANSFER_ENCODING));
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE));
    }
}
