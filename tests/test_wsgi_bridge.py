"""PEP 3333, server side: a probe app under wsgiref.validate, and apps that misbehave.

The probe app (tests/apps/probe_app.py) runs inside the standard library's
`wsgiref.validate.validator`, which raises AssertionError inside the request
when the server breaks a PEP 3333 rule; the last test of the module asserts
that the server's stderr shows none. The misbehaving app
(tests/apps/misbehaving_app.py) checks that broken apps get a 500, a logged
traceback, close() calls, and that the server keeps serving.
"""

from __future__ import annotations

import io
import re
import sys
import time
import uuid
from urllib.parse import quote

import pytest

from support.client import ConnectionClosed, Reader, build, chunked, connect, exchange, request, send
from support.env import APPS
from support.poll import poll_until

sys.path.insert(0, str(APPS))
from probe_app import DATA  # noqa: E402  (the bytes /file serves)

ACCESS_LINE = re.compile(r"\d{3} [A-Z]+ \S+ \(127\.0\.0\.1\) \d+(?:\.\d+)?ms")


def closes(close_log, tag):
    return close_log.read_text().split().count(tag)


def new_tag():
    return uuid.uuid4().hex[:12]


# ---------------------------------------------------------------------------
# environ
# ---------------------------------------------------------------------------


def test_environ_required_keys(probe_server):
    with connect(probe_server.port) as sock:
        local_port = sock.getsockname()[1]
        send(sock, build("GET", "/environ", close=True))
        resp = Reader(sock).read_response()
    assert resp.status == 200, resp
    env = resp.json()
    types = env["__types__"]
    assert env["__environ_is_dict__"] is True
    for key in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT"):
        assert types.get(key) == "str", (key, types.get(key))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == ""
    assert env["SERVER_NAME"] and env["SERVER_PORT"]
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(local_port)
    assert types["wsgi.version"] == "tuple" and env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert types["wsgi.multithread"] == "bool" and types["wsgi.multiprocess"] == "bool" and types["wsgi.run_once"] == "bool"
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert key in types, key
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    for key, value in env.items():
        if key.isupper() and isinstance(value, str):
            value.encode("latin-1")  # "bytes as unicode": latin-1 code points only


def test_environ_path_info_is_decoded_latin1_and_query_raw(probe_server):
    path = "/environ/a%20b/" + quote("é")
    env = request(probe_server.port, "GET", path + "?x=%C3%A9&y=a+b").json()
    assert env["PATH_INFO"] == "/environ/a b/" + "é".encode("utf-8").decode("latin-1")
    assert env["QUERY_STRING"] == "x=%C3%A9&y=a+b"


def test_environ_http10(probe_server):
    env = exchange(probe_server.port, b"GET /environ HTTP/1.0\r\n\r\n").json()
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_environ_request_headers(probe_server):
    env = request(probe_server.port, "POST", "/environ", headers={"Content-Type": "text/plain", "X-Custom-Thing": "v"}, body=b"abc").json()
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["HTTP_X_CUSTOM_THING"] == "v"
    assert env["HTTP_HOST"] == "127.0.0.1"


# ---------------------------------------------------------------------------
# wsgi.input: every read method, any mix, EOF exactly at the end of the body
# ---------------------------------------------------------------------------

BODIES = {
    "lines": b"line one\nline two\r\nthird line\n\nlast line without newline",
    "trailing-newline": b"alpha\nbeta\ngamma\n",
    "binary": bytes(range(256)) * 3,
    "empty": b"",
    "big": b"".join(b"%06d %s\n" % (i, b"x" * (i % 50)) for i in range(3000)),
}

RECIPES = [
    "read:-1",
    "read:None",
    "read:5,read:5,read:-1,read:10",
    "read:1000000,read:1",
    "read:0,readline:0,read:-1",
    "readline,readline,readline,readline,readline,readline,readline",
    "readline:4,readline,read:3,readline:100,read:-1,readline",
    "readlines,read:1",
    "iter,readline",
    "read:2,iter",
    "readline,readlines,read:1",
    "readline:3,iter,read:-1",
]
RAW_RECIPES = RECIPES + ["read", "read:3,read,read", "iter,read", "next,next,read", "readline:7,read"]


def reference(body: bytes, ops: str):
    """The same recipe applied to io.BytesIO: the oracle for EOF-at-the-end semantics."""
    bio = io.BytesIO(body)
    out = []
    for op in ops.split(","):
        name, _, arg = op.partition(":")
        if name == "read":
            value = bio.read() if arg == "" else bio.read(None if arg == "None" else int(arg))
        elif name == "readline":
            value = bio.readline() if arg == "" else bio.readline(int(arg))
        elif name == "readlines":
            value = bio.readlines()
        elif name == "iter":
            value = list(bio)
        elif name == "next":
            value = next(iter(bio), b"")
        if isinstance(value, list):
            out.append([op, [v.decode("latin-1") for v in value]])
        else:
            out.append([op, value.decode("latin-1")])
    return out


def _input(port, prefix, ops, body, use_chunked=False, keep_alive_probe=True):
    """POST body to <prefix>/input?ops=..., on a kept-alive connection followed by a
    second request: a server that lets the app read past the body would hang or
    eat the second request."""
    head_headers = {"Content-Type": "application/octet-stream"}
    if use_chunked:
        head_headers["Transfer-Encoding"] = "chunked"
        raw = build("POST", f"{prefix}/input?ops={ops}", headers=head_headers) + chunked(body)
    else:
        head_headers["Content-Length"] = str(len(body))
        raw = build("POST", f"{prefix}/input?ops={ops}", headers=head_headers, body=body)
    raw += build("GET", f"{prefix}/environ", close=True)
    with connect(port) as sock:
        send(sock, raw)
        reader = Reader(sock)
        first = reader.read_response()
        second = reader.read_response()
    assert first.status == 200, first
    assert second.status == 200 and second.json()["PATH_INFO"] == "/environ", second
    return first.json()


@pytest.mark.parametrize("body_name", sorted(BODIES))
@pytest.mark.parametrize("ops", RECIPES)
def test_input_recipes_validated(probe_server, ops, body_name):
    body = BODIES[body_name]
    assert _input(probe_server.port, "", ops, body) == reference(body, ops)


@pytest.mark.parametrize("ops", RAW_RECIPES)
def test_input_recipes_raw(probe_server, ops):
    # without the validator: bare read() and the server's own __iter__
    body = BODIES["lines"]
    assert _input(probe_server.port, "/raw", ops, body) == reference(body, ops)


@pytest.mark.parametrize("ops", ["read:-1", "readline,iter", "read:7,readlines"])
def test_input_recipes_chunked_request(probe_server, ops):
    body = BODIES["big"]
    assert _input(probe_server.port, "/raw", ops, body, use_chunked=True) == reference(body, ops)


def test_input_readlines_with_hint(probe_server):
    # PEP 3333: the hint may be ignored; whole lines must come back, then the rest
    body = BODIES["lines"]
    result = _input(probe_server.port, "", "readlines:5,read:-1", body)
    lines, rest = result[0][1], result[1][1]
    assert lines and all(l.endswith("\n") for l in lines[:-1])
    assert ("".join(lines) + rest).encode("latin-1") == body
    assert body.decode("latin-1").startswith("".join(lines))


def test_input_iteration_stops_at_content_length(probe_server):
    # the oracle's discriminating check: list(wsgi.input) must end at the body's end
    raw = build("POST", "/lines", body=b"1\n2\n3\n") + build("GET", "/lines", close=True)
    with connect(probe_server.port) as sock:
        send(sock, raw)
        reader = Reader(sock)
        assert reader.read_response().body == b"3"
        assert reader.read_response().body == b"0"


# ---------------------------------------------------------------------------
# start_response, write(), exc_info, close()
# ---------------------------------------------------------------------------


def test_write_callable_then_iterable(probe_server, close_log):
    tag = new_tag()
    resp = request(probe_server.port, "GET", f"/write?tag={tag}")
    assert resp.status == 200
    assert resp.body == b"via-write;via-iter"
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() after write()+iterable")


def test_exc_info_replaces_unsent_headers(probe_server):
    resp = request(probe_server.port, "GET", "/excinfo")
    assert resp.status == 500
    assert resp.body == b"replaced"
    assert resp.header("x-second") == "1"
    assert resp.header("x-first") is None


def test_headers_wait_for_first_nonempty_chunk(probe_server):
    # yield b"" then start_response(..., exc_info): the client sees the second status
    resp = request(probe_server.port, "GET", "/excinfo_late")
    assert resp.status == 503
    assert resp.body == b"replaced late"


def test_close_called_after_normal_completion(probe_server, close_log):
    tag = new_tag()
    resp = request(probe_server.port, "GET", f"/stream?n=3&size=4&tag={tag}")
    assert resp.body == b"aaaabbbbcccc"
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close()")
    time.sleep(0.2)
    assert closes(close_log, tag) == 1, "close() must be called exactly once"


def test_close_called_when_client_disconnects_mid_stream(probe_server, close_log):
    tag = new_tag()
    with connect(probe_server.port) as sock:
        send(sock, build("GET", f"/stream?n=400&size=1000&delay=0.05&tag={tag}"))
        first = sock.recv(100)
        assert first.startswith(b"HTTP/1.1 200"), first
    # the client is gone after ~1 chunk; the app still has ~20 s of chunks to go
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() after the client went away")
    assert request(probe_server.port, "GET", "/environ").status == 200


def test_streaming_probe_first_chunk_early(probe_server):
    with connect(probe_server.port) as sock:
        send(sock, build("GET", "/stream?n=2&size=10&delay=1.0", close=True))
        resp = Reader(sock).read_response()
    assert resp.body == b"a" * 10 + b"b" * 10
    assert resp.first_body_at < 0.9


# ---------------------------------------------------------------------------
# wsgi.file_wrapper
# ---------------------------------------------------------------------------


def test_file_wrapper_real_file(probe_server, close_log):
    tag = new_tag()
    resp = request(probe_server.port, "GET", f"/file?tag={tag}")
    assert resp.status == 200
    assert resp.body == DATA
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="file_wrapper close() closes the file")


def test_file_wrapper_starts_at_current_position(probe_server):
    resp = request(probe_server.port, "GET", "/file?offset=1000&blksize=333")
    assert resp.body == DATA[1000:]


def test_file_wrapper_honours_content_length(probe_server):
    with connect(probe_server.port) as sock:
        send(sock, build("GET", "/file?cl=100") + build("GET", "/file?offset=5&cl=10", close=True))
        reader = Reader(sock)
        first, second = reader.read_response(), reader.read_response()
    assert first.header("content-length") == "100" and first.body == DATA[:100]
    assert second.body == DATA[5:15]


def test_file_wrapper_bytesio(probe_server):
    resp = request(probe_server.port, "GET", "/file_bytesio?size=100000")
    assert resp.body == b"x" * 100000


def test_file_wrapper_read_only_object(probe_server, close_log):
    tag = new_tag()
    resp = request(probe_server.port, "GET", f"/file_readonly?size=20000&tag={tag}")
    assert resp.body == b"r" * 20000
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() of a read()-only file-like")


def test_file_wrapper_closed_when_client_disconnects(probe_server, close_log):
    tag = new_tag()
    with connect(probe_server.port) as sock:
        send(sock, build("GET", f"/file_readonly?size=50000000&tag={tag}"))
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
    poll_until(lambda: closes(close_log, tag) == 1, 10, what="close() after disconnect during file_wrapper")


# ---------------------------------------------------------------------------
# HEAD, bodiless statuses, wsgi.errors
# ---------------------------------------------------------------------------


def test_head_keeps_content_length_without_body(probe_server):
    with connect(probe_server.port) as sock:
        send(sock, build("HEAD", "/head") + build("GET", "/head", close=True))
        reader = Reader(sock)
        head, get = reader.read_response("HEAD"), reader.read_response()
    assert head.header("content-length") == "1234"
    assert get.body == b"x" * 1234


@pytest.mark.parametrize("code", [204, 304])
def test_bodiless_statuses(probe_server, code):
    with connect(probe_server.port) as sock:
        send(sock, build("GET", f"/status?code={code}") + build("GET", "/head", close=True))
        reader = Reader(sock)
        first, second = reader.read_response(), reader.read_response()
    assert first.status == code
    assert not first.chunked
    assert second.body == b"x" * 1234


def test_wsgi_errors_reach_the_log(probe_server):
    mark = probe_server.mark()
    assert request(probe_server.port, "GET", "/errors").body == b"logged"
    probe_server.wait_log(r"probe: line written to wsgi\.errors", since=mark)
    probe_server.wait_log(r"probe: writelines two", since=mark)


# ---------------------------------------------------------------------------
# Misbehaving apps
# ---------------------------------------------------------------------------

APP_RAISES = {
    "/raise": "misbehaving: raised before start_response",
    "/raise_after_start": "misbehaving: raised after start_response",
    "/raise_in_iter_first": "misbehaving: raised while iterating the body",
}
SERVER_DETECTS = ["/str_chunk", "/str_write", "/bad_status", "/bad_status_code", "/bad_header", "/no_start_response", "/file_no_start_response", "/returns_none"]


def _then_still_serving(server, path):
    """The failing request, then /ok on the same connection (or a new one if closed)."""
    with connect(server.port) as sock:
        send(sock, build("GET", path) + build("GET", "/ok", close=True))
        reader = Reader(sock)
        first = reader.read_response()
        try:
            second = reader.read_response()
        except ConnectionClosed:
            second = request(server.port, "GET", "/ok")
    assert (second.status, second.body) == (200, b"ok"), second
    return first


@pytest.mark.parametrize("path", sorted(APP_RAISES))
def test_app_exception_gives_500_and_traceback(misbehaving_server, path):
    mark = misbehaving_server.mark()
    resp = _then_still_serving(misbehaving_server, path)
    assert resp.status == 500, resp
    assert int(resp.header("content-length", "-1")) == len(resp.body)
    misbehaving_server.wait_log(r"Traceback \(most recent call last\)", since=mark)
    misbehaving_server.wait_log(re.escape(APP_RAISES[path]), since=mark)


@pytest.mark.parametrize("path", SERVER_DETECTS)
def test_protocol_violation_gives_500_and_logged_error(misbehaving_server, path):
    mark = misbehaving_server.mark()
    resp = _then_still_serving(misbehaving_server, path)
    assert resp.status == 500, resp
    assert resp.header("injected") is None
    time.sleep(0.2)
    errors = [l for l in misbehaving_server.log_since(mark).splitlines() if l.strip() and not ACCESS_LINE.search(l)]
    assert any(re.search(r"error|traceback", l, re.I) for l in errors), f"nothing logged for {path}:\n" + "\n".join(errors)


def test_close_called_on_str_chunk(misbehaving_server, close_log):
    tag = new_tag()
    assert request(misbehaving_server.port, "GET", f"/str_chunk?tag={tag}").status == 500
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() after a non-bytes chunk")


def test_close_called_when_iteration_fails(misbehaving_server, close_log):
    tag = new_tag()
    assert request(misbehaving_server.port, "GET", f"/raise_in_iter_first?tag={tag}").status == 500
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() after the iterator raised")


def test_exception_after_first_chunk_aborts_response(misbehaving_server, close_log):
    tag = new_tag()
    mark = misbehaving_server.mark()
    with connect(misbehaving_server.port) as sock:
        send(sock, build("GET", f"/raise_in_iter_later?tag={tag}"))
        reader = Reader(sock)
        resp = reader.read_response()
        assert resp.status == 200  # already on the wire: the status cannot change...
        assert resp.body.startswith(b"first chunk;")
        assert not resp.complete  # ...so the response is cut short, not ended cleanly
    misbehaving_server.wait_log(r"misbehaving: raised while iterating the body", since=mark)
    poll_until(lambda: closes(close_log, tag) == 1, 5, what="close() after an aborted response")
    assert request(misbehaving_server.port, "GET", "/ok").status == 200


# ---------------------------------------------------------------------------
# Last: the validator saw no PEP 3333 violation in this whole module
# ---------------------------------------------------------------------------


def test_zz_validator_found_no_violation(probe_server):
    # a few more requests, so this test means something when run alone
    assert request(probe_server.port, "GET", "/environ").status == 200
    assert request(probe_server.port, "POST", "/input?ops=readline,read:-1", body=b"a\nb").status == 200
    assert request(probe_server.port, "GET", "/file").body == DATA
    time.sleep(0.3)
    log = probe_server.log()
    for needle in ("AssertionError", "WSGIWarning", "garbage collected without being closed"):
        assert needle not in log, f"{needle} in the probe server's stderr:\n{log[-6000:]}"
