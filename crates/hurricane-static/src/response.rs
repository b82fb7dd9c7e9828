//! From a found file and the request's headers to the response: representation,
//! preconditions, ranges, body.

use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::io::SeekFrom;
use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use hurricane_core::{channel_body, send_file, BodySender, ResponseBody, SendFileError};
use tokio::io::AsyncSeekExt;

use crate::conditional::{Precondition, Validators};
use crate::encoding::{negotiate, Encoding};
use crate::file::{Representation, StaticFile};
use crate::range::RangeRequest;

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

/// Chunks of a streamed file waiting for a slow client, at most.
const STREAM_BUFFER_CHUNKS: usize = 4;

/// The response for `file` to a GET or HEAD with `headers`.
pub async fn respond(
    file: &StaticFile,
    method: &Method,
    headers: &HeaderMap,
) -> Response<ResponseBody> {
    let encoding = if file.compressed.is_empty() {
        Encoding::Identity
    } else {
        negotiate(headers.get(header::ACCEPT_ENCODING), file.encodings())
    };
    let chosen = file.representation(encoding);
    // A file too large to keep in memory is opened now, and described by the handle
    // its bytes will come from.
    let (fresh, disk) = match &chosen.contents {
        Some(_) => (None, None),
        None => match open_for_streaming(chosen).await {
            Ok(Some((fresh, disk))) => (Some(fresh), Some(disk)),
            Ok(None) => return not_found(),
            Err(error) => {
                tracing::error!(path = %chosen.path.display(), %error, "cannot open a static file");
                return status(StatusCode::INTERNAL_SERVER_ERROR);
            }
        },
    };
    let representation = fresh.as_ref().unwrap_or(chosen);
    let validators = Validators {
        etag: representation.etag.to_str().unwrap_or_default(),
        modified: representation.modified,
    };
    match validators.evaluate(headers) {
        Precondition::Proceed => {}
        Precondition::Failed => return status(StatusCode::PRECONDITION_FAILED),
        Precondition::NotModified => return not_modified(file, representation),
    }
    let mut response = full_headers(file, representation);

    // Range is defined for GET only (RFC 9110 §14.2); HEAD gets the 200 headers.
    let ranges = match headers.get(header::RANGE) {
        Some(range) if method == Method::GET && validators.range_applies(headers) => {
            range.to_str().map_or(RangeRequest::Whole, |r| {
                RangeRequest::parse(r, representation.len)
            })
        }
        _ => RangeRequest::Whole,
    };
    let len = representation.len;
    let segments = match ranges {
        RangeRequest::Whole => vec![Segment::File(0..=len.saturating_sub(1))],
        RangeRequest::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = response.headers_mut();
            h.insert(header::CONTENT_RANGE, content_range(None, len));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            h.remove(header::CONTENT_TYPE);
            return response;
        }
        RangeRequest::Ranges(ranges) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let [range] = ranges.as_slice() {
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, content_range(Some(range), len));
                vec![Segment::File(range.clone())]
            } else {
                multipart(&mut response, ranges, len)
            }
        }
    };
    let body_len: u64 = if len == 0 {
        0
    } else {
        segments.iter().map(Segment::len).sum()
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    if method == Method::HEAD || body_len == 0 {
        return response;
    }
    *response.body_mut() = match (&representation.contents, disk) {
        (Some(contents), _) => ResponseBody::full(collect(contents, &segments)),
        (None, Some(disk)) => stream(disk, segments),
        (None, None) => ResponseBody::Empty,
    };
    response
}

/// 304: the validators and caching headers a 200 would carry (RFC 9110 §15.4.5), no
/// representation metadata.
fn not_modified(file: &StaticFile, representation: &Representation) -> Response<ResponseBody> {
    let mut response = status(StatusCode::NOT_MODIFIED);
    let h = response.headers_mut();
    h.insert(header::ETAG, representation.etag.clone());
    h.insert(header::LAST_MODIFIED, representation.last_modified.clone());
    h.insert(header::CACHE_CONTROL, file.cache_control.clone());
    if !file.compressed.is_empty() {
        h.insert(header::VARY, ACCEPT_ENCODING);
    }
    response
}

/// A 200 with every header but the length; the body is set by the caller.
fn full_headers(file: &StaticFile, representation: &Representation) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Empty);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, file.content_type.clone());
    h.insert(header::ETAG, representation.etag.clone());
    h.insert(header::LAST_MODIFIED, representation.last_modified.clone());
    h.insert(header::CACHE_CONTROL, file.cache_control.clone());
    h.insert(header::ACCEPT_RANGES, BYTES);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    if let Some(content_encoding) = representation.encoding.header() {
        h.insert(header::CONTENT_ENCODING, content_encoding);
    }
    if !file.compressed.is_empty() {
        // Identity too: a cache must not hand the plain file to a client that asked
        // for brotli, or the reverse.
        h.insert(header::VARY, ACCEPT_ENCODING);
    }
    response
}

/// A piece of a response body: bytes of the file, or multipart framing.
#[derive(Debug)]
enum Segment {
    File(RangeInclusive<u64>),
    Framing(Bytes),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::File(range) => range.end() - range.start() + 1,
            Segment::Framing(bytes) => bytes.len() as u64,
        }
    }
}

/// Sets the `multipart/byteranges` content type and returns the parts (RFC 9110 §14.6):
/// each range with its own `Content-Type` and `Content-Range`.
fn multipart(
    response: &mut Response<ResponseBody>,
    ranges: Vec<RangeInclusive<u64>>,
    len: u64,
) -> Vec<Segment> {
    let boundary = format!(
        "{:016x}",
        RandomState::new().hash_one(std::time::Instant::now())
    );
    let headers = response.headers_mut();
    let part_type = headers
        .insert(
            header::CONTENT_TYPE,
            HeaderValue::try_from(format!("multipart/byteranges; boundary={boundary}"))
                .unwrap_or(HeaderValue::from_static("multipart/byteranges")),
        )
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    for range in ranges {
        let mut head = String::new();
        let _ = write!(
            head,
            "--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            range.start(),
            range.end()
        );
        if !segments.is_empty() {
            head.insert_str(0, "\r\n");
        }
        segments.push(Segment::Framing(Bytes::from(head)));
        segments.push(Segment::File(range));
    }
    segments.push(Segment::Framing(Bytes::from(format!(
        "\r\n--{boundary}--\r\n"
    ))));
    segments
}

/// The body from bytes in memory: a slice for one segment, a copy for several.
fn collect(contents: &Bytes, segments: &[Segment]) -> Bytes {
    let slice = |range: &RangeInclusive<u64>| {
        contents.slice(*range.start() as usize..=*range.end() as usize)
    };
    match segments {
        [Segment::File(range)] => slice(range),
        _ => {
            let mut body = BytesMut::new();
            for segment in segments {
                match segment {
                    Segment::File(range) => body.extend_from_slice(&slice(range)),
                    Segment::Framing(bytes) => body.extend_from_slice(bytes),
                }
            }
            body.freeze()
        }
    }
}

/// The body read from disk while it is sent.
fn stream(file: std::fs::File, segments: Vec<Segment>) -> ResponseBody {
    let (sender, body) = channel_body(STREAM_BUFFER_CHUNKS);
    tokio::spawn(async move {
        let mut file = tokio::fs::File::from_std(file);
        if let Err(error) = send_segments(&mut file, segments, &sender).await {
            if !matches!(error, SendFileError::ClientGone) {
                tracing::error!(%error, "sending a static file failed");
                sender.abort(error.into()).await;
            }
        }
    });
    body
}

async fn send_segments(
    file: &mut tokio::fs::File,
    segments: Vec<Segment>,
    sender: &BodySender,
) -> Result<(), SendFileError> {
    for segment in segments {
        match segment {
            Segment::Framing(bytes) => sender
                .send(bytes)
                .await
                .map_err(|_| SendFileError::ClientGone)?,
            Segment::File(range) => {
                file.seek(SeekFrom::Start(*range.start())).await?;
                send_file(file, Some(range.end() - range.start() + 1), sender).await?;
            }
        }
    }
    Ok(())
}

/// Opens a representation that is not kept in memory, described afresh by the handle.
async fn open_for_streaming(
    representation: &Representation,
) -> std::io::Result<Option<(Representation, std::fs::File)>> {
    let path = representation.path.clone();
    let encoding = representation.encoding;
    match tokio::task::spawn_blocking(move || Representation::open(path, encoding)).await {
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Ok(opened) => opened,
        Err(join) => Err(std::io::Error::other(join)),
    }
}

fn content_range(range: Option<&RangeInclusive<u64>>, len: u64) -> HeaderValue {
    let text = match range {
        Some(range) => format!("bytes {}-{}/{len}", range.start(), range.end()),
        None => format!("bytes */{len}"),
    };
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("bytes */*"))
}

/// An empty response with `status`.
pub fn status(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Empty);
    *response.status_mut() = status;
    response
}

pub fn not_found() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full("Not Found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub fn method_not_allowed() -> Response<ResponseBody> {
    let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}
