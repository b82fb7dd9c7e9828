"""WSGI apps that break the rules, each under its own path.

Served with `hurricane serve --app misbehaving_app:application`. The server must
answer 500 when nothing was sent yet (a traceback in its stderr), abort the
response when the status line was already sent, call close() on whatever the
app returned, and keep serving the next request.

close() calls are appended to the file named by HURRICANE_TEST_CLOSE_LOG.
"""

import os
import time
from urllib.parse import parse_qs

CLOSE_LOG = os.environ.get("HURRICANE_TEST_CLOSE_LOG")


def record_close(tag):
    if CLOSE_LOG and tag:
        with open(CLOSE_LOG, "a") as f:
            f.write(tag + "\n")


class Closing:
    """Iterable that yields `chunks`, then raises if `fail` is set; records close()."""

    def __init__(self, chunks, tag, fail=False):
        self.chunks, self.tag, self.fail = chunks, tag, fail

    def __iter__(self):
        yield from self.chunks
        if self.fail and self.chunks:
            time.sleep(0.5)  # the first chunk is on the wire by now (sent promptly)
        if self.fail:
            raise RuntimeError("misbehaving: raised while iterating the body")

    def close(self):
        record_close(self.tag)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    tag = q.get("tag")
    plain = [("Content-Type", "text/plain")]

    if path == "/ok":
        start_response("200 OK", plain)
        return [b"ok"]
    if path == "/raise":  # exception escapes the callable before start_response
        raise RuntimeError("misbehaving: raised before start_response")
    if path == "/raise_after_start":  # start_response called, nothing sent yet
        start_response("200 OK", plain)
        raise RuntimeError("misbehaving: raised after start_response")
    if path == "/str_chunk":  # a str where bytes are required
        start_response("200 OK", plain)
        return Closing(["text, not bytes"], tag)
    if path == "/str_write":  # write() with a str
        write = start_response("200 OK", plain)
        write("text, not bytes")
        return []
    if path == "/bad_status":  # not "NNN reason"
        start_response("OK", plain)
        return [b"bad status"]
    if path == "/bad_status_code":
        start_response("2000 Way Too Long", plain)
        return [b"bad status code"]
    if path == "/bad_header":  # header value with CR/LF (response splitting)
        start_response("200 OK", plain + [("X-Bad", "a\r\nInjected: yes")])
        return [b"bad header"]
    if path == "/no_start_response":
        return [b"never called start_response"]
    if path == "/file_no_start_response":  # a real file, which the server sends itself
        return environ["wsgi.file_wrapper"](open(__file__, "rb"))
    if path == "/returns_none":
        start_response("200 OK", plain)
        return None
    if path == "/raise_in_iter_first":  # fails before the first chunk: still a 500
        start_response("200 OK", plain)
        return Closing([], tag, fail=True)
    if path == "/raise_in_iter_later":  # fails after a chunk went out: response aborted
        start_response("200 OK", plain)
        return Closing([b"first chunk;"], tag, fail=True)
    start_response("404 Not Found", plain)
    return [b"not found"]
