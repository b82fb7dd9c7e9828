"""gunicorn's HTTP request corpus replayed against hurricane over raw sockets.

Source: the gunicorn==27.0.1 sdist, tests/requests/{valid,invalid}/*.http (the
raw request) and *.py (gunicorn's expected parse, or the error it raises),
fetched at test time (see corpora.py). The server hosts tests/apps/echo_app.py,
which answers with a JSON description of the WSGI environ and the body.

* valid: every request must get a 2xx whose echoed method, PATH_INFO,
  QUERY_STRING, SERVER_PROTOCOL, headers and body match gunicorn's
  expectation, mapped to WSGI: header names become HTTP_<NAME> (Content-Type
  and Content-Length become CONTENT_TYPE/CONTENT_LENGTH), repeated headers are
  joined with ", " ("; " for Cookie), names with "_" are dropped (hurricane's
  anti-spoofing rule, which is also gunicorn's default `header_map`).
  Transfer-Encoding is not compared (the server de-chunks and sets
  CONTENT_LENGTH), but CONTENT_LENGTH must equal the body length.
* invalid: every request must get a 4xx, or the connection must close with no
  2xx (501 is also accepted: RFC 9112 §6.1 names it for unknown transfer
  codings); the server must keep serving afterwards.

Where hurricane may legitimately differ from gunicorn, ALLOW below says how and
why; every entry cites the rule (RFC or non-default gunicorn option) behind it.
"""

from __future__ import annotations

import base64
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

import pytest

from support import corpora
from support.client import TIMEOUT, ConnectionClosed, Reader, connect, read_or_half_close, send, server_alive

VALID = corpora.load_cases("valid")
INVALID = corpora.load_cases("invalid")


@dataclass
class Allow:
    reason: str
    # valid cases
    may_reject: bool = False  # a rejection (4xx/501/close) is also correct
    must_reject: bool = False  # hurricane must refuse what gunicorn (with a non-default option) accepts
    overrides: dict = field(default_factory=dict)  # changed expectations, e.g. {"method": ...}
    incomplete: bool = False  # the .http file holds fewer body bytes than it declares
    # invalid cases
    may_accept: bool = False  # a 2xx is also correct, if `check` holds
    check: Callable | None = None  # check(echo: dict, reader: Reader) for accepted invalid cases


def _echo_has(**expected):
    def check(echo, reader):
        for key, value in expected.items():
            if key == "body":
                assert base64.b64decode(echo["body_b64"]) == value, echo
            else:
                assert echo["headers"].get(key) == value, (key, echo["headers"])

    return check


def _no_underscore_leak(body):
    def check(echo, reader):
        assert base64.b64decode(echo["body_b64"]) == body, echo
        assert "HTTP_TRANSFER_ENCODING" not in echo["headers"] or echo["headers"]["HTTP_TRANSFER_ENCODING"] == "chunked", echo
        assert echo["content_length"] in (None, "", str(len(body))), echo

    return check


def _body_then_close(body):
    def check(echo, reader):
        assert base64.b64decode(echo["body_b64"]) == body, echo
        assert reader.at_eof(timeout=3), "RFC 9112 §6.1: the server MUST close the connection after a request with both Content-Length and Transfer-Encoding"

    return check


LIMITS = (
    "size-limit policy: gunicorn's defaults are 4094 bytes per request line and 8190 per "
    "header line (or the test lowers them with cfg); RFC 9112 §2.3 recommends supporting "
    "request lines of at least 8000 octets and sets no header-line limit, so accepting is correct"
)
UNKNOWN_TE = (
    "RFC 9112 §6.1: a server that receives a transfer coding it does not understand SHOULD "
    "answer 501 (and 'identity' is no longer a registered coding); gunicorn passes the "
    "still-encoded bytes on. If accepted, the body must be the de-chunked bytes"
)

ALLOW: dict[str, Allow] = {
    # ---- valid cases ---------------------------------------------------------------
    **{
        f"valid/pp_0{i}": Allow(
            "PROXY protocol is not supported (gunicorn only accepts it with the non-default "
            "proxy_protocol=True); the PROXY preamble is not HTTP, so the request must be refused",
            must_reject=True,
        )
        for i in (1, 2, 4, 5)  # (pp_03 has no PROXY preamble: a plain valid request)
    },
    "valid/028": Allow(
        "RFC 9112 §5.1: a server MUST reject whitespace between a field name and the colon with "
        "400; gunicorn accepts it only with the non-default strip_header_spaces=True",
        must_reject=True,
    ),
    "valid/compat_obs_fold": Allow(
        "obs-fold: RFC 9112 §5.2 lets a server reject it with 400 (gunicorn accepts it only with "
        "the non-default permit_obsolete_folding=True); if accepted the value must be unfolded",
        may_reject=True,
    ),
    "valid/compat_obs_fold_huge": Allow("obs-fold, as valid/compat_obs_fold", may_reject=True),
    "valid/031compat": Allow(
        "method names are case-sensitive (RFC 9110 §9.1); gunicorn upper-cases '-blargh' only "
        "with the non-default casefold_http_method=True, so the app must see it as sent",
        overrides={"method": "-blargh"},
    ),
    "valid/005": Allow(
        "'#fragment' is not part of any request-target form (RFC 9112 §3.2), so a 400 is correct; "
        "if accepted, the fragment must not leak into PATH_INFO/QUERY_STRING",
        may_reject=True,
    ),
    "valid/014": Allow("'\"' is not a URI character (RFC 3986 §2), so a 400 is correct", may_reject=True),
    "valid/025": Allow(UNKNOWN_TE, may_reject=True),
    "valid/025_line": Allow(UNKNOWN_TE, may_reject=True),
    "valid/029": Allow(UNKNOWN_TE, may_reject=True),
    "valid/030": Allow(UNKNOWN_TE, may_reject=True),
    "valid/rfc9112_smuggle_gzip_chunked_01": Allow(UNKNOWN_TE, may_reject=True),
    "valid/rfc9112_smuggle_te_identity_chunked_01": Allow(UNKNOWN_TE, may_reject=True),
    "valid/rfc9112_target_authority_connect_01": Allow(
        "CONNECT asks for a tunnel (RFC 9110 §9.3.6); hurricane is an origin server for WSGI "
        "apps and does not tunnel, so refusing CONNECT is correct",
        may_reject=True,
    ),
    "valid/rfc9112_target_authority_ipv6_01": Allow("CONNECT, as rfc9112_target_authority_connect_01", may_reject=True),
    "valid/099": Allow(
        "corpus artefact: the file declares Content-Length: 17914 but holds 8599 body bytes "
        "(gunicorn's parser test just stops at the end of the file); over a socket the server "
        "must keep waiting for the rest, so the check is that no response arrives early",
        incomplete=True,
    ),
    # ---- invalid cases -------------------------------------------------------------
    "invalid/003c": Allow(
        "'-bl' is a valid method token (RFC 9110 §9.1, tchar); gunicorn's extra rule (3+ "
        "upper-case letters) is its own policy",
        may_accept=True,
    ),
    "invalid/006": Allow(LIMITS, may_accept=True),
    "invalid/007": Allow(LIMITS, may_accept=True),
    "invalid/008": Allow(LIMITS, may_accept=True),
    "invalid/010": Allow(LIMITS, may_accept=True),
    "invalid/011": Allow(LIMITS, may_accept=True),
    "invalid/012": Allow(LIMITS, may_accept=True),
    "invalid/017": Allow(LIMITS, may_accept=True),
    "invalid/limit_header_default_01": Allow(LIMITS, may_accept=True),
    "invalid/chunked_09": Allow(
        "'0 \\r\\n': whitespace after the chunk size, read as bad whitespace before an empty "
        "chunk extension (RFC 9112 §7.1.1 allows BWS there); the size is unambiguous, and the "
        "body must be exactly 'hello'",
        may_accept=True,
        check=_echo_has(body=b"hello"),
    ),
    "invalid/019": Allow(
        "gunicorn rejects conflicting X-Forwarded-Proto/X-Forwarded-Ssl only when it trusts "
        "proxies (forwarded_allow_ips='*'); hurricane does not interpret X-Forwarded-* headers "
        "(they reach the app as plain headers)",
        may_accept=True,
        check=_echo_has(HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_SSL="off"),
    ),
    "invalid/040": Allow(
        "gunicorn's non-default header_map='refuse' rejects names with '_'; hurricane drops them "
        "instead (gunicorn's default), so neither Transfer_Encoding nor Content_Length may reach the app",
        may_accept=True,
        check=_no_underscore_leak(b"tricked"),
    ),
    "invalid/chunked_07": Allow(
        "header_map='refuse', as invalid/040: the underscore header must be dropped",
        may_accept=True,
        check=_no_underscore_leak(b"hello world"),
    ),
    "invalid/041": Allow(
        "RFC 9110 §5.3 makes a repeated singleton field a sender error but does not require the "
        "recipient to reject it; hurricane joins the values like any repeated field",
        may_accept=True,
    ),
    "invalid/rfc9110_trailer_forbidden_cl_01": Allow(
        "RFC 9110 §6.5.1: forbidden trailer fields must not be merged into the header section; "
        "discarding the trailer (checked) is compliant",
        may_accept=True,
        check=_echo_has(HTTP_HOST="example.com", body=b"hello"),
    ),
    "invalid/rfc9110_trailer_forbidden_host_01": Allow(
        "as rfc9110_trailer_forbidden_cl_01: the trailer Host must not replace the header Host",
        may_accept=True,
        check=_echo_has(HTTP_HOST="example.com", body=b"hello"),
    ),
    "invalid/rfc9110_trailer_forbidden_te_01": Allow(
        "as rfc9110_trailer_forbidden_cl_01",
        may_accept=True,
        check=_echo_has(HTTP_HOST="example.com", body=b"hello"),
    ),
    "invalid/rfc9112_bare_lf_01": Allow(
        "RFC 9112 §2.2: a recipient MAY recognize a single LF as a line terminator",
        may_accept=True,
        check=_echo_has(HTTP_HOST="a", HTTP_X="1"),
    ),
    "invalid/rfc9112_leading_crlf_02": Allow(
        "RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line; "
        "ignoring two is allowed",
        may_accept=True,
    ),
    "invalid/rfc9112_smuggle_cl_list_form_01": Allow(
        "RFC 9110 §8.6 lets a recipient treat 'Content-Length: 5, 5' (identical values) as 5",
        may_accept=True,
        check=_echo_has(body=b"hello"),
    ),
    "invalid/rfc9112_smuggle_cl_te_chunked_01": Allow(
        "RFC 9112 §6.1: a server MAY process a request with both Content-Length and "
        "Transfer-Encoding by Transfer-Encoding alone, but MUST close the connection afterwards",
        may_accept=True,
        check=_body_then_close(b""),
    ),
}


def _case_id(case):
    return case.id


def _expected(req: dict, overrides: dict):
    headers: dict[str, str] = {}
    content_type = None
    for name, value in req["headers"]:
        if "_" in name:
            continue  # dropped by design
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # framing: checked through the body
        if key == "CONTENT_TYPE":
            content_type = value if content_type is None else content_type + ", " + value
            continue
        key = "HTTP_" + key
        if key in headers:
            headers[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
        else:
            headers[key] = value
    body = req["body"]
    if isinstance(body, str):
        body = body.encode("latin-1")
    path = urllib.parse.unquote_to_bytes(req["uri"]["path"]).decode("latin-1")
    expected = {
        "method": req["method"],
        "path_info": path,
        "query_string": req["uri"]["query"],
        "protocol": "HTTP/%d.%d" % tuple(req["version"]),
        "headers": headers,
        "content_type": content_type,
        "body": body,
    }
    expected.update(overrides)
    return expected


def _actual(echo: dict):
    headers = {k: v for k, v in echo["headers"].items() if k != "HTTP_TRANSFER_ENCODING"}
    return {
        "method": echo["method"],
        "path_info": echo["path_info"],
        "query_string": echo["query_string"],
        "protocol": echo["protocol"],
        "headers": headers,
        "content_type": echo["content_type"] or None,
        "body": base64.b64decode(echo["body_b64"]),
    }


def _wants_close(req: dict) -> bool:
    conn = ",".join(v for k, v in req["headers"] if k.upper() == "CONNECTION").lower()
    if tuple(req["version"]) == (1, 0):
        return "keep-alive" not in conn
    return "close" in conn


def _rejected(resp) -> bool:
    return resp is None or 400 <= resp.status < 500 or resp.status == 501


def _send_and_read(port: int, data: bytes, count: int):
    """Send the raw request; return (responses, reader). Stops at the first close."""
    sock = connect(port)
    send(sock, data)
    reader = Reader(sock)
    responses = []
    for _ in range(count):
        try:
            responses.append(reader.read_response())
        except ConnectionClosed:
            break
    return responses, reader


def _probe_rejection(port: int, data: bytes):
    """Send a request that should be refused.

    Returns (response or None if the connection closed without one, reader).
    If nothing at all comes back within 2 s (the request is incomplete, e.g. a
    missing final CRLF) the client half-closes, as a real client giving up
    would; then a response or a close must follow.
    """
    sock = connect(port)
    send(sock, data)
    reader = Reader(sock)
    try:
        return read_or_half_close(sock, reader, wait=2.0), reader
    except (socket.timeout, TimeoutError):
        pytest.fail(f"server neither answered nor closed within {TIMEOUT}s after the client half-closed")


@pytest.mark.parametrize("case", VALID, ids=_case_id)
def test_valid_request(echo_server, case):
    allow = ALLOW.get(case.id)
    if allow and allow.incomplete:
        with connect(echo_server.port) as sock:
            send(sock, case.data)
            reader = Reader(sock)
            sock.settimeout(1.5)
            with pytest.raises((socket.timeout, TimeoutError)):
                reader._fill()
                pytest.fail(f"server answered a request whose body is incomplete: {bytes(reader.buf)[:300]!r}")
        assert server_alive(echo_server.port)
        return
    responses, reader = _send_and_read(echo_server.port, case.data, len(case.expect))
    try:
        if allow and allow.must_reject:
            assert responses == [] or _rejected(responses[0]), f"{allow.reason}\ngot {responses[0]!r}"
            return
        if allow and allow.may_reject and (not responses or _rejected(responses[0])):
            return  # refused, which the allow-list explains
        assert len(responses) == len(case.expect), (
            f"expected {len(case.expect)} response(s), got {responses!r} before the connection closed"
        )
        for req, resp in zip(case.expect, responses):
            assert 200 <= resp.status < 300, f"valid request refused: {resp!r}"
            echo = resp.json()
            expected = _expected(req, allow.overrides if allow else {})
            actual = _actual(echo)
            assert actual == expected
            cl = echo["content_length"]
            if cl not in (None, ""):
                assert int(cl) == len(actual["body"]), f"CONTENT_LENGTH {cl} but body is {len(actual['body'])} bytes"
            elif actual["body"]:
                pytest.fail(f"body of {len(actual['body'])} bytes but no CONTENT_LENGTH (Django would not see it)")
        if _wants_close(case.expect[-1]):
            assert reader.at_eof(timeout=3), "connection should close after this request (HTTP/1.0 or Connection: close)"
    finally:
        reader.sock.close()
    assert server_alive(echo_server.port)


@pytest.mark.parametrize("case", INVALID, ids=_case_id)
def test_invalid_request(echo_server, case):
    allow = ALLOW.get(case.id)
    resp, reader = _probe_rejection(echo_server.port, case.data)
    try:
        if resp is not None and not _rejected(resp):
            if allow and allow.may_accept and 200 <= resp.status < 300:
                if allow.check:
                    allow.check(resp.json(), reader)
            else:
                pytest.fail(f"gunicorn raises {case.expect[0]} for this request, hurricane answered {resp!r}")
    finally:
        reader.sock.close()
    assert server_alive(echo_server.port), "server stopped serving after an invalid request"


def test_allow_list_names_real_cases():
    names = {c.id for c in VALID + INVALID}
    stale = sorted(set(ALLOW) - names)
    assert not stale, f"allow-list entries without a corpus case: {stale}"
    assert len(VALID) > 50 and len(INVALID) > 70, "corpus looks truncated"
