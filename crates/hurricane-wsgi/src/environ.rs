//! Building the PEP 3333 `environ` of a request.

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{Request, Version};
use hurricane_core::{ConnectionInfo, RemoteClient, Scheme};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::input::WsgiInput;

/// The keys that are the same for every request, built once and copied per request.
pub(crate) fn template<'py>(
    py: Python<'py>,
    script_name: &str,
    file_wrapper: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    environ.set_item("wsgi.version", (1, 0))?;
    environ.set_item("wsgi.url_scheme", "http")?;
    environ.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
    environ.set_item("wsgi.multithread", true)?;
    environ.set_item("wsgi.multiprocess", false)?;
    environ.set_item("wsgi.run_once", false)?;
    // The body is always read completely before the application runs, so reading
    // `wsgi.input` to EOF is safe even without CONTENT_LENGTH.
    environ.set_item("wsgi.input_terminated", true)?;
    environ.set_item("wsgi.file_wrapper", file_wrapper)?;
    environ.set_item("GATEWAY_INTERFACE", "CGI/1.1")?;
    environ.set_item(
        "SERVER_SOFTWARE",
        concat!("hurricane/", env!("CARGO_PKG_VERSION")),
    )?;
    environ.set_item("SCRIPT_NAME", script_name)?;
    Ok(environ)
}

/// The environ of `request`: a copy of `template` plus the request's own keys.
pub(crate) fn build<'py>(
    py: Python<'py>,
    template: &Bound<'py, PyDict>,
    script_name: &str,
    request: Request<Bytes>,
) -> PyResult<Bound<'py, PyDict>> {
    let (parts, body) = request.into_parts();
    let environ = template.copy()?;
    let connection = parts.extensions.get::<ConnectionInfo>().copied();

    environ.set_item(intern!(py, "REQUEST_METHOD"), parts.method.as_str())?;
    let raw_path = parts.uri.path();
    let path = percent_encoding::percent_decode_str(raw_path).collect::<Vec<u8>>();
    let path_info = path
        .strip_prefix(script_name.as_bytes())
        .filter(|rest| !script_name.is_empty() && (rest.is_empty() || rest.starts_with(b"/")))
        .unwrap_or(&path);
    environ.set_item(intern!(py, "PATH_INFO"), latin1(py, path_info))?;
    environ.set_item(
        intern!(py, "QUERY_STRING"),
        latin1(py, parts.uri.query().unwrap_or("").as_bytes()),
    )?;
    let request_uri = parts
        .uri
        .path_and_query()
        .map_or(raw_path, |pq| pq.as_str());
    let request_uri = latin1(py, request_uri.as_bytes());
    environ.set_item(intern!(py, "RAW_URI"), &request_uri)?;
    environ.set_item(intern!(py, "REQUEST_URI"), request_uri)?;
    environ.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        match parts.version {
            Version::HTTP_09 => intern!(py, "HTTP/0.9"),
            Version::HTTP_10 => intern!(py, "HTTP/1.0"),
            Version::HTTP_2 => intern!(py, "HTTP/2"),
            Version::HTTP_3 => intern!(py, "HTTP/3"),
            _ => intern!(py, "HTTP/1.1"),
        },
    )?;
    // The client as a trusted proxy forwarded it (`--forwarded-allow-ips`), else the peer.
    if let Some(client) = parts.extensions.get::<RemoteClient>() {
        let remote_addr = PyString::new(py, &client.ip.to_string());
        environ.set_item(intern!(py, "REMOTE_ADDR"), &remote_addr)?;
        environ.set_item(intern!(py, "REMOTE_HOST"), remote_addr)?;
        if let Some(port) = client.port {
            environ.set_item(intern!(py, "REMOTE_PORT"), port.to_string())?;
        }
        if client.scheme == Scheme::Https {
            environ.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "https"))?;
        }
    }
    if let Some(connection) = connection {
        environ.set_item(
            intern!(py, "SERVER_NAME"),
            connection.local.ip().to_string(),
        )?;
        environ.set_item(
            intern!(py, "SERVER_PORT"),
            connection.local.port().to_string(),
        )?;
    }

    let headers = &parts.headers;
    // The server has read the whole body (de-chunking it if needed), so CONTENT_LENGTH is
    // always its true length: Django reads exactly CONTENT_LENGTH bytes.
    if !body.is_empty()
        || headers.contains_key(header::CONTENT_LENGTH)
        || headers.contains_key(header::TRANSFER_ENCODING)
    {
        environ.set_item(intern!(py, "CONTENT_LENGTH"), body.len().to_string())?;
    }
    for name in headers.keys() {
        let Some(key) = environ_key(py, name) else {
            continue;
        };
        let separator: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
        let mut values = headers.get_all(name).iter();
        let value = match (values.next(), values.next()) {
            (Some(only), None) => latin1(py, only.as_bytes()),
            (Some(first), Some(second)) => {
                let mut joined = first.as_bytes().to_vec();
                for value in std::iter::once(second).chain(values) {
                    joined.extend_from_slice(separator);
                    joined.extend_from_slice(value.as_bytes());
                }
                latin1(py, &joined)
            }
            (None, _) => continue,
        };
        environ.set_item(key, value)?;
    }
    environ.set_item(intern!(py, "wsgi.input"), WsgiInput::new(body))?;
    Ok(environ)
}

/// The environ key of a request header, or `None` for headers the application must not
/// see: names with `_` (so `X_Forwarded_For` cannot pose as `X-Forwarded-For`, as in
/// nginx, Apache and Django's runserver), and the framing headers the server consumed.
fn environ_key<'py>(py: Python<'py>, name: &HeaderName) -> Option<Bound<'py, PyString>> {
    let common = match *name {
        header::HOST => intern!(py, "HTTP_HOST"),
        header::USER_AGENT => intern!(py, "HTTP_USER_AGENT"),
        header::ACCEPT => intern!(py, "HTTP_ACCEPT"),
        header::ACCEPT_ENCODING => intern!(py, "HTTP_ACCEPT_ENCODING"),
        header::ACCEPT_LANGUAGE => intern!(py, "HTTP_ACCEPT_LANGUAGE"),
        header::COOKIE => intern!(py, "HTTP_COOKIE"),
        header::CONNECTION => intern!(py, "HTTP_CONNECTION"),
        header::CONTENT_TYPE => intern!(py, "CONTENT_TYPE"),
        header::REFERER => intern!(py, "HTTP_REFERER"),
        header::AUTHORIZATION => intern!(py, "HTTP_AUTHORIZATION"),
        header::CONTENT_LENGTH | header::TRANSFER_ENCODING => return None,
        _ => {
            let name = name.as_str();
            if name.contains('_') {
                return None;
            }
            let key: String = "HTTP_"
                .chars()
                .chain(name.chars().map(|c| match c {
                    '-' => '_',
                    c => c.to_ascii_uppercase(),
                }))
                .collect();
            return Some(PyString::new(py, &key));
        }
    };
    Some(common.clone())
}

/// `bytes` as a `str` of the same code points (latin-1), as PEP 3333 wants for every CGI
/// value: no byte is lost or replaced, so a UTF-8 cookie reaches Django intact.
fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(ascii) if bytes.is_ascii() => PyString::new(py, ascii),
        _ => PyString::new(
            py,
            &bytes.iter().map(|&b| char::from(b)).collect::<String>(),
        ),
    }
}
