"""Static and media files: settings, file trees, raw requests, dates, multipart.

- `STATIC_SETTINGS`: a server on tests/apps/testsettings/static.py (STATIC_ROOT,
  MEDIA_ROOT, ... from STATICTEST_* environment variables, given to `base_env`);
- `write_tree`: a file tree in a temporary directory from a {relative path: content} dict;
- `fetch`: one request over a raw socket with the target sent byte for byte (no client
  library normalises `..`, `//` or percent-escapes) that also returns whatever the server
  sent after the response (a HEAD or 304 that carries a body shows up there);
- `parse_multipart`: a multipart/byteranges body split into its parts, by hand.
"""

from __future__ import annotations

import calendar
import email.utils
import gzip
import os
import re
from pathlib import Path

from support.client import Reader, build, connect, send
from support.env import APPS, PANIC_WORDS

STATIC_SETTINGS = ["--settings", "testsettings.static", "--pythonpath", str(APPS)]

# nginx-tests' range.t file: 100 records of 10 bytes, "X000XXXXXX" .. "X099XXXXXX".
NGINX_T1 = "".join("X%03dXXXXXX" % i for i in range(100)).encode()

ETAG_RE = re.compile(r'"[\x21\x23-\x7e\x80-\xff]*"')  # RFC 9110 entity-tag, strong
# IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"
HTTP_DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT")


def write_tree(root: Path, files: dict) -> Path:
    """Create `files` ({relative path (str or bytes): content (str or bytes)}) under `root`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = Path(os.fsdecode(os.path.join(os.fsencode(root), os.fsencode(rel))))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def http_date(timestamp: float) -> str:
    """An IMF-fixdate for a Unix time (whole seconds)."""
    return email.utils.formatdate(int(timestamp), usegmt=True)


def parse_http_date(value: str) -> int:
    """A Unix time from an HTTP-date."""
    return calendar.timegm(email.utils.parsedate_to_datetime(value).utctimetuple())


def set_mtime(path: Path, timestamp: float):
    os.utime(path, (timestamp, timestamp))


def fetch(port: int, method: str, path: str, headers=None, body: bytes = b"", timeout: float = 10.0):
    """One request (Connection: close) with `path` sent as is; returns the client.Response
    with one more attribute, `rest`: the bytes that followed the response until the
    server closed the connection (b"" for a correct HEAD/304/412)."""
    with connect(port, timeout=timeout) as sock:
        send(sock, build(method, path, headers, body, close=True))
        reader = Reader(sock)
        resp = reader.read_response(method)
        resp.rest = reader.read_to_eof()
    return resp


def get(port: int, path: str, **headers):
    """GET with headers given as keyword arguments (underscores become dashes)."""
    return fetch(port, "GET", path, {k.replace("_", "-"): v for k, v in headers.items()})


def parse_multipart(resp) -> list[tuple[dict[str, str], bytes]]:
    """A 206 multipart/byteranges response -> [(part headers (lower-case names), part bytes)].

    RFC 9110 §14.6 / RFC 2046: an optional preamble, then for each part
    CRLF "--" boundary CRLF, headers, CRLF, the bytes; then CRLF "--" boundary "--"."""
    ctype = resp.header("content-type") or ""
    m = re.fullmatch(r'multipart/byteranges;\s*boundary=("?)([^";]+)\1\s*', ctype)
    assert m, f"not multipart/byteranges with a boundary: {ctype!r}"
    delimiter = b"\r\n--" + m.group(2).encode("latin-1")
    body = b"\r\n" + resp.body  # the first delimiter may omit its leading CRLF
    chunks = body.split(delimiter)
    assert len(chunks) >= 3, f"fewer than two parts: {resp.body[:500]!r}"
    assert chunks[-1].startswith(b"--"), f"no closing delimiter: {resp.body[-200:]!r}"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n"), f"delimiter not followed by CRLF: {chunk[:80]!r}"
        head, sep, data = chunk[2:].partition(b"\r\n\r\n")
        assert sep, f"part without a header block: {chunk[:200]!r}"
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, data))
    return parts


def assert_no_panic(text: str):
    assert not any(w in text for w in PANIC_WORDS), text
