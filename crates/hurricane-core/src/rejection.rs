//! Requests the server answers itself, without calling the handler.

use bytes::Bytes;
use http::{header, request, HeaderValue, Method, Response, StatusCode};

use crate::ResponseBody;

/// Why a request was refused before reaching the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The body is larger than the configured limit.
    TooLarge,
    /// The body could not be read (for example malformed chunked encoding).
    BadBody,
    /// The request head is well-formed HTTP to hyper but not a valid request (RFC 9112).
    BadRequest(&'static str),
}

impl Rejection {
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        let (status, text) = match self {
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            Self::BadBody => (StatusCode::BAD_REQUEST, "Malformed request body"),
            Self::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
        };
        let mut response = Response::new(ResponseBody::full(Bytes::from(format!("{text}\n"))));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // The unread rest of the request makes the connection unusable for another one.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Checks what hyper lets through but RFC 9112 forbids, and what would let one request be
/// read two ways by this server and a proxy in front of it.
pub(crate) fn check_head(head: &request::Parts) -> Result<(), Rejection> {
    let mut hosts = head.headers.get_all(header::HOST).iter();
    if hosts.next().is_some() && hosts.next().is_some() {
        return Err(Rejection::BadRequest("More than one Host header"));
    }
    let uri = &head.uri;
    if uri.path() == "*" && head.method != Method::OPTIONS {
        return Err(Rejection::BadRequest(
            "Asterisk target is only allowed with OPTIONS",
        ));
    }
    if uri.scheme().is_none() && uri.authority().is_some() && head.method != Method::CONNECT {
        return Err(Rejection::BadRequest(
            "Authority-form target is only allowed with CONNECT",
        ));
    }
    let target = uri.path_and_query().map_or("", |pq| pq.as_str());
    if !target.is_ascii() {
        return Err(Rejection::BadRequest(
            "Request target contains non-ASCII bytes",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(request: Request<()>) -> request::Parts {
        request.into_parts().0
    }

    #[test]
    fn a_plain_request_passes() {
        let head = parts(Request::get("/a?b=c").header("host", "x").body(()).unwrap());
        assert_eq!(check_head(&head), Ok(()));
    }

    #[test]
    fn two_host_headers_are_refused() {
        let head = parts(
            Request::get("/")
                .header("host", "a")
                .header("host", "b")
                .body(())
                .unwrap(),
        );
        assert!(matches!(check_head(&head), Err(Rejection::BadRequest(_))));
    }

    #[test]
    fn asterisk_form_needs_options() {
        let get = parts(Request::get("*").body(()).unwrap());
        assert!(check_head(&get).is_err());
        let options = parts(Request::options("*").body(()).unwrap());
        assert_eq!(check_head(&options), Ok(()));
    }

    #[test]
    fn authority_form_needs_connect() {
        let get = parts(Request::get("example.com:80").body(()).unwrap());
        assert!(check_head(&get).is_err());
    }
}
