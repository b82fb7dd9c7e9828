"""A WSGI "probe" app that exercises the server side of PEP 3333.

Served with `hurricane serve --app probe_app:application --pythonpath tests/apps`.

`application` wraps every route in the standard library's
`wsgiref.validate.validator`, which asserts (inside the request) that the
environ, wsgi.input, wsgi.errors, start_response and the response iterable
behave as PEP 3333 says; a violation becomes an AssertionError in the server's
stderr, which the tests look for. Paths under /raw/ skip the validator, for
calls the validator itself forbids (a bare `wsgi.input.read()`) and to reach the
server's own `wsgi.input.__iter__` (the validator re-implements iteration with
readline()).

close() calls are appended to the file named by HURRICANE_TEST_CLOSE_LOG, one
tag per line, so a test can see that the server called close() even when the
client went away.
"""

import atexit
import io
import json
import os
import sys
import tempfile
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

CLOSE_LOG = os.environ.get("HURRICANE_TEST_CLOSE_LOG")


def record_close(tag):
    if CLOSE_LOG and tag:
        with open(CLOSE_LOG, "a") as f:
            f.write(tag + "\n")


def query(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def text(start_response, body, status="200 OK", ctype="text/plain"):
    body = body.encode("utf-8") if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def as_json(start_response, obj):
    return text(start_response, json.dumps(obj), ctype="application/json")


class Body:
    """Response iterable with close(); optional delay between chunks."""

    def __init__(self, chunks, tag=None, delay=0.0):
        self.chunks = list(chunks)
        self.tag = tag
        self.delay = delay

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if i and self.delay:
                time.sleep(self.delay)
            yield chunk

    def close(self):
        record_close(self.tag)


class TaggedFile(io.FileIO):
    """A real file (has fileno(), so a server may sendfile it) that records close()."""

    tag = None

    def close(self):
        if not self.closed:
            record_close(self.tag)
        super().close()


class ReadOnly:
    """Only read() and close(): file_wrapper must still work (PEP 3333 'file-like')."""

    def __init__(self, data, tag=None):
        self.buf = io.BytesIO(data)
        self.tag = tag

    def read(self, n=-1):
        return self.buf.read(n)

    def close(self):
        record_close(self.tag)


# Bytes served by /file (also imported by the tests to know what to expect).
DATA = bytes(range(256)) * 400 + b"--end of probe data--"
_DATA_FILE = None


def data_file():
    """DATA written once to a real file, so file_wrapper gets an object with fileno()."""
    global _DATA_FILE
    if _DATA_FILE is None:
        fd, path = tempfile.mkstemp(prefix="hurricane-probe-", suffix=".bin")
        with os.fdopen(fd, "wb") as f:
            f.write(DATA)
        _DATA_FILE = path
        atexit.register(os.unlink, path)
    return _DATA_FILE


def run_ops(inp, ops, allow_bare_read):
    """Apply a recipe such as "read:3,readline,iter" to wsgi.input.

    Returns [[op, result], ...] with bytes as latin-1 strings (lists for
    readlines/iter) so the test can compare with io.BytesIO doing the same.
    """
    results = []
    for op in ops.split(","):
        name, _, arg = op.partition(":")
        if name == "read":
            if arg == "":
                if not allow_bare_read:
                    raise ValueError("bare read() only under /raw/")
                value = inp.read()
            elif arg == "None":
                value = inp.read(None)
            else:
                value = inp.read(int(arg))
        elif name == "readline":
            value = inp.readline() if arg == "" else inp.readline(int(arg))
        elif name == "readlines":
            value = inp.readlines() if arg == "" else inp.readlines(int(arg))
        elif name == "iter":
            value = list(inp)
        elif name == "next":
            value = next(iter(inp), b"")
        else:
            raise ValueError(f"unknown op {op!r}")
        if isinstance(value, list):
            results.append([op, [v.decode("latin-1") for v in value]])
        else:
            results.append([op, value.decode("latin-1")])
    return results


def environ_report(environ):
    report = {}
    for key, value in environ.items():
        if isinstance(value, str):
            report[key] = value
        elif isinstance(value, (bool, int, float)) or value is None:
            report[key] = value
        elif isinstance(value, tuple):
            report[key] = list(value)
        else:
            report[key] = f"<{type(value).__name__}>"
    report["__types__"] = {k: type(v).__name__ for k, v in environ.items()}
    report["__environ_is_dict__"] = type(environ) is dict
    return report


def routes(environ, start_response, raw):
    path = environ.get("PATH_INFO", "")
    q = query(environ)
    inp = environ["wsgi.input"]

    if path.startswith("/environ"):
        return as_json(start_response, environ_report(environ))

    if path == "/echo":  # read(CONTENT_LENGTH)
        data = inp.read(int(environ.get("CONTENT_LENGTH") or 0))
        return text(start_response, data, ctype="application/octet-stream")

    if path == "/input":  # a recipe of reads, see run_ops
        results = run_ops(inp, q.get("ops", "read:-1"), allow_bare_read=raw)
        return as_json(start_response, results)

    if path == "/lines":  # iterate until EOF: must stop at the end of the body
        n = len(list(inp))
        return text(start_response, str(n))

    if path == "/write":  # write() callable, then an iterable with close()
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"via-write;")
        return Body([b"via-iter"], tag=q.get("tag"))

    if path == "/excinfo":  # replace headers before anything was sent
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise RuntimeError("probe: replaced by exc_info")
        except RuntimeError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain"), ("X-Second", "1")], sys.exc_info())
        return [b"replaced"]

    if path == "/excinfo_late":  # headers are not sent before the first non-empty chunk
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b""
            try:
                raise RuntimeError("probe: late exc_info")
            except RuntimeError:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"replaced late"

        return gen()

    if path == "/stream":  # n chunks of size bytes, delay seconds apart, close() recorded
        n, size, delay = int(q.get("n", 3)), int(q.get("size", 10)), float(q.get("delay", 0))
        chunks = [bytes([ord("a") + i % 26]) * size for i in range(n)]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Body(chunks, tag=q.get("tag"), delay=delay)

    if path == "/file":  # wsgi.file_wrapper over a real file, from an offset
        f = TaggedFile(data_file(), "rb")
        f.tag = q.get("tag")
        offset = int(q.get("offset", 0))
        f.seek(offset)
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in q:
            headers.append(("Content-Length", q["cl"]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, int(q.get("blksize", 8192)))

    if path == "/file_bytesio":  # file_wrapper over an in-memory file
        size = int(q.get("size", 10000))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * size), 4096)

    if path == "/file_readonly":  # an object with only read() and close()
        size = int(q.get("size", 10000))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](ReadOnly(b"r" * size, tag=q.get("tag")), 4096)

    if path == "/head":
        return text(start_response, b"x" * 1234)

    if path == "/status":  # e.g. 204 / 304 (no body, no Content-Type) or any other code
        code = int(q.get("code", 200))
        if code in (204, 304):
            start_response(f"{code} {'No Content' if code == 204 else 'Not Modified'}", [])
            return []
        return text(start_response, f"status {code}", status=f"{code} Whatever")

    if path == "/errors":  # wsgi.errors goes to the server log
        environ["wsgi.errors"].write("probe: line written to wsgi.errors\n")
        environ["wsgi.errors"].writelines(["probe: writelines one\n", "probe: writelines two\n"])
        environ["wsgi.errors"].flush()
        return text(start_response, "logged")

    return text(start_response, "not found: " + path, status="404 Not Found")


_validated = validator(lambda environ, start_response: routes(environ, start_response, raw=False))


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith("/raw/"):
        environ["PATH_INFO"] = environ["PATH_INFO"][len("/raw"):]
        return routes(environ, start_response, raw=True)
    return _validated(environ, start_response)
