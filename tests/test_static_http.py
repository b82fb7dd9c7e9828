"""Static and media files over HTTP (README "Static and media files").

One server (`--static --media`, DEBUG off) over one prepared tree in a temporary
directory answers every test here: headers, the Content-Type table, conditional
requests, ranges (single, suffix, multipart, If-Range), precompressed siblings,
Cache-Control from the manifest, media, safe paths, symlinks, hidden files,
directories, methods, changes on disk, the access log and a view holding the GIL.

Cases ported from elsewhere carry the original's name in the test name or docstring:
tower-http's `ServeDir` tests (tower-http/src/services/fs/serve_dir/tests.rs),
whitenoise's tests/test_whitenoise.py, nginx-tests' range.t, range_if_range.t and
not_modified.t. Where hurricane deliberately differs from the original, the
docstring says so.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from support.client import Reader, build, connect, send
from support.env import base_env, requires
from support.poll import poll_until
from support.probes import flag_off
from support.static import (
    ETAG_RE,
    HTTP_DATE_RE,
    NGINX_T1,
    STATIC_SETTINGS,
    fetch,
    get,
    gzip_bytes,
    http_date,
    parse_multipart,
    set_mtime,
    write_tree,
)

pytestmark = requires("static")

ACCESS_RE = r"{status} {method} {path} \(127\.0\.0\.1\) \d+(?:\.\d+)?ms"

SECRET = b"TOP-SECRET-" + uuid.uuid4().hex.encode()
CSS = b"body { color: rebeccapurple; }\n" * 40  # 1240 bytes
CSS_GZ = gzip_bytes(CSS)
CSS_BR = b"not really brotli: the server does not look inside\x00\x01\x02" * 3
JS = b"export function hello() { return 'hello from app.js'; }\n"
HASHED_CSS = b"/* app.css, hashed copy */\n" + CSS
PLAIN = b"Test file: plain text without precompressed siblings\n"
GZONLY = b"Test file: only a gzip sibling\n" * 10
BRONLY = b"Test file: only a brotli sibling\n" * 10
BRONLY_BR = b"fake br bytes for bronly.txt"
BIG = random.Random(4).randbytes(100 * 1024)
LARGE = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
CJK_NAME = "你好世界.txt"

T_JS = 1_600_000_000  # Sun, 13 Sep 2020 12:26:40 GMT
T_T1 = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT

CONTENT_TYPES = [
    ("a.css", "text/css; charset=utf-8"),
    ("a.js", "text/javascript; charset=utf-8"),
    ("a.mjs", "text/javascript; charset=utf-8"),
    ("a.json", "application/json"),
    ("a.map", "application/json"),
    ("a.wasm", "application/wasm"),
    ("a.woff2", "font/woff2"),
    ("a.woff", "font/woff"),
    ("a.svg", "image/svg+xml"),
    ("a.html", "text/html; charset=utf-8"),
    ("a.txt", "text/plain; charset=utf-8"),
    ("a.png", "image/png"),
    ("a.jpg", "image/jpeg"),
    ("a.webmanifest", "application/manifest+json"),
    ("a.csv", "text/csv; charset=utf-8"),  # "any other text/* type gets ; charset=utf-8"
    ("a.unknownext", "application/octet-stream"),
    ("noextension", "application/octet-stream"),
]

MANIFEST = {"paths": {"app.css": "app.0123abcd.css", "js/app.js": "js/app.89abcdef.js"}, "version": "1.1"}


# ---------------------------------------------------------------------------
# The tree and the server
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("static-site")
    static, media = base / "static", base / "media"
    (base / "secret.txt").write_bytes(SECRET)
    write_tree(base / "outside-dir", {"secret.txt": SECRET, "app.js": SECRET})
    files = {
        "app.css": CSS,
        "app.css.gz": CSS_GZ,
        "app.css.br": CSS_BR,
        "app.0123abcd.css": HASHED_CSS,
        "js/app.js": JS,
        "js/app.89abcdef.js": JS,
        "late.css": b"late { }\n",
        "late.fedcba98.css": b"late { }\n",
        "t1.html": NGINX_T1,
        "empty.txt": b"",
        "plain.txt": PLAIN,
        "gzonly.txt": GZONLY,
        "gzonly.txt.gz": gzip_bytes(GZONLY),
        "bronly.txt": BRONLY,
        "bronly.txt.br": BRONLY_BR,
        "big.bin": BIG,
        "large.bin": LARGE,
        CJK_NAME: "你好世界\n",
        "filename with space.txt": "space\n",
        "dir/inner.txt": "inner\n",
        ".hidden": SECRET,
        ".git/config": SECRET,
        "sub/.env": SECRET,
        "sub/ok.txt": "ok\n",
        ".well-known/security.txt": SECRET,
        "a:b.txt": SECRET,
        b"weird_\xc3(_path": SECRET,
        "changing.txt": "version 1\n",
        "deleted.txt": "soon gone\n",
        "staticfiles.json": json.dumps(MANIFEST),
    }
    for name, _ in CONTENT_TYPES:
        files[f"types/{name}"] = f"content of {name}\n"
    write_tree(static, files)
    set_mtime(static / "js" / "app.js", T_JS)
    set_mtime(static / "t1.html", T_T1)
    os.symlink("t1.html", static / "link-inside.txt")
    os.symlink("js", static / "dirlink-inside")
    os.symlink("../secret.txt", static / "link-outside.txt")
    os.symlink(str(base / "secret.txt"), static / "link-abs-outside.txt")
    os.symlink("../outside-dir", static / "dirlink-outside")

    write_tree(
        media,
        {
            "photo.png": PNG,
            "doc.txt": "a media document\n",
            "app.0123abcd.css": HASHED_CSS,  # a hashed-looking name: media is never immutable
            "staticfiles.json": json.dumps({"paths": {"app.css": "app.0123abcd.css"}}),
            ".hidden": SECRET,
        },
    )
    os.symlink("../secret.txt", media / "link-outside.txt")
    flags = base / "flags"
    flags.mkdir()
    return SimpleNamespace(base=base, static=static, media=media, flags=flags)


@pytest.fixture(scope="module")
def server(start_server, mysite, site):
    env = base_env(STATICTEST_STATIC_ROOT=site.static, STATICTEST_MEDIA_ROOT=site.media, PROBETEST_FLAGS=site.flags)
    return start_server("static-http", [*STATIC_SETTINGS, "--static", "--media"], mysite, env)


def vary_tokens(resp) -> set[str]:
    return {t.strip().lower() for v in resp.header_all("vary") for t in v.split(",") if t.strip()}


def assert_no_body(resp):
    assert resp.body == b"" and resp.rest == b"", f"a body was sent: {resp!r} then {resp.rest[:200]!r}"


def assert_file_headers(resp, content_type: str, length: int, cache_control: str = "public, max-age=60"):
    """The headers every 200/206 for a file carries."""
    assert resp.header("content-type") == content_type, resp
    assert resp.header("content-length") == str(length), resp
    etag = resp.header("etag")
    assert etag and ETAG_RE.fullmatch(etag), f"not a strong quoted ETag: {etag!r}"
    assert HTTP_DATE_RE.fullmatch(resp.header("last-modified") or ""), resp
    assert resp.header("accept-ranges") == "bytes", resp
    assert resp.header("cache-control") == cache_control, resp
    assert resp.header("x-content-type-options") == "nosniff", resp


# ---------------------------------------------------------------------------
# Start-up and plain GET/HEAD
# ---------------------------------------------------------------------------


def test_startup_log_lines(server, site):
    log = server.log()
    for kind, prefix, root in (("static", "/static/", site.static), ("media", "/media/", site.media)):
        roots = {str(root), os.path.realpath(root)}
        assert any(f"Serving {kind} files under {prefix} from {r}" in log for r in roots), log


def test_basic(server):
    """tower-http basic; whitenoise test_get_file, test_response_has_correct_content_length_header."""
    resp = get(server.port, "/static/js/app.js")
    assert resp.status == 200, resp
    assert resp.body == JS
    assert_file_headers(resp, "text/javascript; charset=utf-8", len(JS))
    assert resp.header("last-modified") == http_date(T_JS) == "Sun, 13 Sep 2020 12:26:40 GMT"
    assert not resp.has_header("content-encoding") and not vary_tokens(resp), resp


def test_head_request(server):
    """tower-http head_request, etag_on_head_request; whitenoise test_head_request_has_no_body:
    the same headers as GET, the real Content-Length, no body."""
    got = get(server.port, "/static/t1.html")
    head = fetch(server.port, "HEAD", "/static/t1.html")
    assert head.status == 200, head
    assert_no_body(head)
    assert_file_headers(head, "text/html; charset=utf-8", len(NGINX_T1))
    for name in ("etag", "last-modified", "content-type", "content-length", "cache-control"):
        assert head.header(name) == got.header(name), name
    assert head.header("last-modified") == http_date(T_T1)


@pytest.mark.parametrize("name,content_type", CONTENT_TYPES, ids=[n for n, _ in CONTENT_TYPES])
def test_content_type_table(server, name, content_type):
    resp = get(server.port, f"/static/types/{name}")
    assert resp.status == 200, resp
    assert resp.header("content-type") == content_type, resp
    assert resp.body == f"content of {name}\n".encode()


def test_access_cjk_percent_encoded_uri_path(server):
    """tower-http access_cjk_percent_encoded_uri_path."""
    resp = get(server.port, "/static/%E4%BD%A0%E5%A5%BD%E4%B8%96%E7%95%8C.txt")
    assert resp.status == 200, resp
    assert resp.body == "你好世界\n".encode()
    assert resp.header("content-type") == "text/plain; charset=utf-8"


def test_access_space_percent_encoded_uri_path(server):
    """tower-http access_space_percent_encoded_uri_path."""
    resp = get(server.port, "/static/filename%20with%20space.txt")
    assert (resp.status, resp.body) == (200, b"space\n"), resp


def test_empty_file(server):
    resp = get(server.port, "/static/empty.txt")
    assert (resp.status, resp.body) == (200, b""), resp
    assert_file_headers(resp, "text/plain; charset=utf-8", 0)


@pytest.mark.parametrize("name,data", [("big.bin", BIG), ("large.bin", LARGE)])
def test_large_files_whole(server, name, data):
    resp = get(server.port, f"/static/{name}")
    assert resp.status == 200, resp.status
    assert resp.header("content-length") == str(len(data))
    assert resp.body == data, f"{len(resp.body)} bytes, differing"


def test_query_string_is_ignored(server):
    for path in ("/static/js/app.js?v=123", "/static/js/app.js?", "/static/js/app.js?../../secret.txt"):
        resp = get(server.port, path)
        assert (resp.status, resp.body) == (200, JS), (path, resp)


def test_keep_alive_mixed_with_django(server):
    """Static responses (200, HEAD, 304, 404) frame correctly on one kept-alive
    connection, between Django responses."""
    etag = get(server.port, "/static/js/app.js").header("etag")
    with connect(server.port) as sock:
        send(
            sock,
            build("GET", "/static/js/app.js")
            + build("HEAD", "/static/t1.html")
            + build("GET", "/hello")
            + build("GET", "/static/js/app.js", {"If-None-Match": etag})
            + build("GET", "/static/no-such-file.js")
            + build("GET", "/static/app.css", {"Range": "bytes=0-4"}, close=True),
        )
        reader = Reader(sock)
        first = reader.read_response("GET")
        head = reader.read_response("HEAD")
        hello = reader.read_response("GET")
        not_modified = reader.read_response("GET")
        missing = reader.read_response("GET")
        ranged = reader.read_response("GET")
        rest = reader.read_to_eof()
    assert (first.status, first.body) == (200, JS), first
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "1000"), head
    assert (hello.status, hello.body) == (200, b"Hello, world!"), hello
    assert (not_modified.status, not_modified.body) == (304, b""), not_modified
    assert missing.status == 404, missing
    assert (ranged.status, ranged.body) == (206, CSS[:5]), ranged
    assert rest == b""


# ---------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/static/js/app.js", "/static/no-such-file.js", "/media/doc.txt"])
def test_method_not_allowed(server, method, path):
    """tower-http method_not_allowed; whitenoise test_post_request_returns_405: any other
    method under the prefix (existing file or not) -> 405 with Allow: GET, HEAD."""
    resp = fetch(server.port, method, path, body=b"x=1" if method in ("POST", "PUT", "PATCH") else b"")
    assert resp.status == 405, resp
    assert resp.header("allow") == "GET, HEAD", resp
    assert JS not in resp.body


# ---------------------------------------------------------------------------
# Routes win over Django
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/django-view", "/media/django-view"])
def test_routes_win_over_django_urls(server, path):
    """A Django view exists at this URL (test_static_django.py shows it answering when the
    route is off); under --static/--media a missing file there is hurricane's 404."""
    resp = get(server.port, path)
    assert resp.status == 404, resp
    assert b"django-view" not in resp.body, resp


def test_other_django_urls_still_work(server):
    resp = get(server.port, "/hello")
    assert (resp.status, resp.body) == (200, b"Hello, world!"), resp


# ---------------------------------------------------------------------------
# Cache-Control and the manifest
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,cache_control",
    [
        ("/static/app.0123abcd.css", "public, max-age=31536000, immutable"),
        ("/static/js/app.89abcdef.js", "public, max-age=31536000, immutable"),
        ("/static/app.css", "public, max-age=60"),  # the original, unhashed name
        ("/static/js/app.js", "public, max-age=60"),
        ("/static/t1.html", "public, max-age=60"),
        ("/media/app.0123abcd.css", "no-cache"),  # media: never immutable, whatever its name
        ("/media/photo.png", "no-cache"),
    ],
)
def test_cache_control(server, path, cache_control):
    """whitenoise test_max_age; test_django_whitenoise's immutable manifest files."""
    resp = get(server.port, path)
    assert resp.status == 200, resp
    assert resp.header("cache-control") == cache_control, resp
    assert resp.header("x-content-type-options") == "nosniff", resp


def test_immutable_also_on_304_206_and_head(server):
    path = "/static/app.0123abcd.css"
    etag = get(server.port, path).header("etag")
    for resp in (
        fetch(server.port, "HEAD", path),
        get(server.port, path, If_None_Match=etag),
        get(server.port, path, Range="bytes=0-3"),
    ):
        assert resp.status in (200, 304, 206), resp
        assert resp.header("cache-control") == "public, max-age=31536000, immutable", resp


def test_manifest_is_reread_when_it_changes(server, site):
    """A deploy rewrites staticfiles.json: a newly listed hashed name becomes immutable
    within about a second; names listed before stay immutable."""
    path = "/static/late.fedcba98.css"
    before = get(server.port, path)
    assert before.header("cache-control") == "public, max-age=60", before
    manifest = {"paths": {**MANIFEST["paths"], "late.css": "late.fedcba98.css"}, "version": "1.1"}
    (site.static / "staticfiles.json").write_text(json.dumps(manifest))
    start = time.monotonic()
    poll_until(
        lambda: get(server.port, path),
        4.0,
        until=lambda r: r.header("cache-control") == "public, max-age=31536000, immutable",
        interval=0.1,
        what="the new manifest entry",
    )
    waited = time.monotonic() - start
    assert waited < 3.0, waited
    assert get(server.port, "/static/app.0123abcd.css").header("cache-control") == "public, max-age=31536000, immutable"
    assert get(server.port, "/static/late.css").header("cache-control") == "public, max-age=60"


# ---------------------------------------------------------------------------
# Conditional requests
# ---------------------------------------------------------------------------


def test_etag_is_set_on_response(server):
    """tower-http etag_is_set_on_response: a strong, quoted ETag, the same on every request."""
    a = get(server.port, "/static/js/app.js").header("etag")
    b = get(server.port, "/static/js/app.js").header("etag")
    assert a and ETAG_RE.fullmatch(a) and not a.startswith("W/"), a
    assert a == b
    assert get(server.port, "/static/js/app.89abcdef.js").header("etag") not in (None, "")


def test_if_none_match_returns_304(server):
    """tower-http if_none_match_returns_304; whitenoise test_etag_matches; nginx
    not_modified.t 'if-none-match'. The 304 carries the validators, Cache-Control and
    Date, and no body."""
    got = get(server.port, "/static/js/app.js")
    resp = get(server.port, "/static/js/app.js", If_None_Match=got.header("etag"))
    assert resp.status == 304, resp
    assert_no_body(resp)
    assert resp.header("etag") == got.header("etag")
    assert resp.header("last-modified") == got.header("last-modified") == http_date(T_JS)
    assert resp.header("cache-control") == "public, max-age=60"
    assert HTTP_DATE_RE.fullmatch(resp.header("date") or ""), resp
    assert not vary_tokens(resp), resp  # no sibling: no Vary


@pytest.mark.parametrize(
    "value,status",
    [
        ('"594bd1d1-36"', 200),  # whitenoise test_etag_doesnt_match
        ('"not-a-real-etag"', 200),  # tower-http if_none_match_with_non_matching_etag_returns_200
        ('"foo"', 200),  # nginx 'if-none-match fail'
        ('"foo", "bar", {etag} , "baz"', 304),  # nginx 'if-none-match with complex list'
        ('"bogus", {etag}, "also-bogus"', 304),  # tower-http if_none_match_multiple_etags
        ("*", 304),  # nginx 'if-none-match all'; tower-http if_none_match_wildcard_returns_304
        ("W/{etag}", 304),  # nginx 'if-none-match weak'; tower-http if_none_match_weak_comparison
        ('"foo", W/{etag}', 304),
    ],
)
def test_if_none_match(server, value, status):
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = get(server.port, "/static/js/app.js", If_None_Match=value.format(etag=etag))
    assert resp.status == status, resp
    if status == 200:
        assert resp.body == JS
    else:
        assert_no_body(resp)


def test_if_none_match_on_head(server):
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = fetch(server.port, "HEAD", "/static/js/app.js", {"If-None-Match": etag})
    assert resp.status == 304, resp
    assert_no_body(resp)


@pytest.mark.parametrize(
    "value,status",
    [
        ("{etag}", 200),  # nginx 'if-match'; tower-http if_match_with_matching_etag_succeeds
        ('"foo"', 412),  # nginx 'if-match fail'
        ('"not-a-real-etag"', 412),  # tower-http if_match_with_non_matching_etag_returns_412
        ('"foo", "bar", \t{etag} , "baz"', 200),  # nginx 'if-match with complex list'
        ("*", 200),  # nginx 'if-match all'; tower-http if_match_wildcard_succeeds
        ("W/{etag}", 412),  # nginx 'if-match weak fail'; tower-http if_match_strong_comparison_rejects_weak_etag
    ],
)
def test_if_match(server, value, status):
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = get(server.port, "/static/js/app.js", If_Match=value.format(etag=etag))
    assert resp.status == status, resp
    if status == 200:
        assert resp.body == JS
    else:
        assert_no_body(resp)


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": '"foo"'},  # nginx 'if-match ignored with 404'
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Fri, 11 Apr 2100 11:47:06 GMT"},
        {"If-Unmodified-Since": "Fri, 09 Aug 1996 14:21:40 GMT"},
    ],
    ids=["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"],
)
def test_conditionals_ignored_on_404(server, headers):
    """nginx not_modified.t 'if-match ignored with 404': no 304/412 for a missing file."""
    resp = fetch(server.port, "GET", "/static/nx", headers)
    assert resp.status == 404, resp


@pytest.mark.parametrize(
    "ims,status",
    [
        (http_date(T_JS), 304),  # whitenoise test_not_modified_exact; tower-http last_modified
        (http_date(T_JS + 1), 304),
        # whitenoise test_not_modified_future; 11 Apr 2100 is a Sunday, and parsers of
        # HTTP-dates (nginx, Python's, Go's) do not check the day name
        ("Fri, 11 Apr 2100 11:47:06 GMT", 304),
        ("Sun, 11 Apr 2100 11:47:06 GMT", 304),
        ("Wed, 08 Jul 2037 22:53:52 GMT", 304),  # nginx not_modified.t '0x7F000000'
        ("Tue, 19 Jan 2038 03:14:07 GMT", 304),  # nginx '0x7FFFFFFF'
        ("Tue, 19 Jan 2038 03:14:08 GMT", 304),  # nginx '0x7FFFFFFF + 1' (a 64-bit time_t)
        (http_date(T_JS - 1), 200),
        ("Fri, 11 Apr 2001 11:47:06 GMT", 200),  # whitenoise test_modified
        ("Fri, 09 Aug 1996 14:21:40 GMT", 200),  # tower-http last_modified
        ("Fri, 16 Jul 2021 09:09:1626426577S GMT", 200),  # whitenoise test_modified_mangled_date_firefox_91_0b3
        ("yesterday", 200),  # unparsable: ignored
    ],
)
def test_if_modified_since(server, ims, status):
    resp = get(server.port, "/static/js/app.js", If_Modified_Since=ims)
    assert resp.status == status, resp
    if status == 304:
        assert_no_body(resp)
    else:
        assert resp.body == JS


def test_if_modified_since_304_includes_etag(server):
    """tower-http if_modified_since_304_includes_etag: a date-based 304 has the ETag too."""
    got = get(server.port, "/static/js/app.js")
    resp = get(server.port, "/static/js/app.js", If_Modified_Since=got.header("last-modified"))
    assert resp.status == 304, resp
    assert resp.header("etag") == got.header("etag")
    assert resp.header("last-modified") == got.header("last-modified")
    assert resp.header("cache-control") == got.header("cache-control")


def test_etag_overrules_modified_since(server):
    """whitenoise test_etag_overrules_modified_since: a non-matching If-None-Match with
    a future If-Modified-Since is a 200 (If-Modified-Since is ignored)."""
    resp = get(server.port, "/static/js/app.js", If_None_Match='"594bd1d1-36"', If_Modified_Since="Fri, 11 Apr 2100 11:47:06 GMT")
    assert (resp.status, resp.body) == (200, JS), resp


def test_if_none_match_takes_precedence_over_if_modified_since(server):
    """tower-http if_none_match_takes_precedence_over_if_modified_since."""
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = get(server.port, "/static/js/app.js", If_None_Match=etag, If_Modified_Since="Fri, 09 Aug 1996 14:21:40 GMT")
    assert resp.status == 304, resp


@pytest.mark.parametrize(
    "ius,status",
    [
        (http_date(T_JS), 200),  # tower-http last_modified (If-Unmodified-Since = Last-Modified)
        ("Sun, 01 Jan 2100 00:00:00 GMT", 200),
        (http_date(T_JS - 1), 412),
        ("Fri, 09 Aug 1996 14:21:40 GMT", 412),  # tower-http last_modified
    ],
)
def test_if_unmodified_since(server, ius, status):
    resp = get(server.port, "/static/js/app.js", If_Unmodified_Since=ius)
    assert resp.status == status, resp
    if status == 412:
        assert_no_body(resp)
    else:
        assert resp.body == JS


def test_if_match_takes_precedence_over_if_unmodified_since(server):
    """tower-http if_match_takes_precedence_over_if_unmodified_since, and the other way
    round (RFC 9110 §13.2.2: If-Unmodified-Since only when there is no If-Match)."""
    resp = get(server.port, "/static/js/app.js", If_Match='"not-a-real-etag"', If_Unmodified_Since="Sun, 01 Jan 2100 00:00:00 GMT")
    assert resp.status == 412, resp
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = get(server.port, "/static/js/app.js", If_Match=etag, If_Unmodified_Since="Fri, 09 Aug 1996 14:21:40 GMT")
    assert (resp.status, resp.body) == (200, JS), resp


def test_if_match_failure_before_if_none_match(server):
    etag = get(server.port, "/static/js/app.js").header("etag")
    resp = get(server.port, "/static/js/app.js", If_Match='"foo"', If_None_Match=etag)
    assert resp.status == 412, resp


def test_if_none_match_before_range(server):
    """A matching If-None-Match answers 304 even with a Range."""
    etag = get(server.port, "/static/t1.html").header("etag")
    resp = get(server.port, "/static/t1.html", If_None_Match=etag, Range="bytes=0-8")
    assert resp.status == 304, resp
    assert_no_body(resp)


# ---------------------------------------------------------------------------
# Ranges
# ---------------------------------------------------------------------------


def t1_range(port, value, **headers):
    return get(port, "/static/t1.html", Range=value, **headers)


@pytest.mark.parametrize(
    "value,first,last,body",
    [
        ("bytes=0-8", 0, 8, b"X000XXXXX"),  # nginx 'range request'
        ("bytes=-10", 990, 999, b"X099XXXXXX"),  # nginx 'final bytes'
        ("bytes=990-", 990, 999, b"X099XXXXXX"),  # nginx 'final bytes explicit'
        ("bytes=990-1990", 990, 999, b"X099XXXXXX"),  # nginx 'more than length'
        ("bytes=0-10001", 0, 999, NGINX_T1),  # nginx 'satisfiable - last byte pos adjusted'
        ("bytes=0-0", 0, 0, b"X"),
        ("bytes=999-999", 999, 999, b"X"),
        ("bytes=-1000", 0, 999, NGINX_T1),
        ("bytes=-5000", 0, 999, NGINX_T1),  # whitenoise test_overlong_trailing_ranges_return_entire_file
    ],
)
def test_single_range(server, value, first, last, body):
    full = get(server.port, "/static/t1.html")
    resp = t1_range(server.port, value)
    assert resp.status == 206, resp
    assert resp.header("content-range") == f"bytes {first}-{last}/1000", resp
    assert resp.body == body
    assert_file_headers(resp, "text/html; charset=utf-8", last - first + 1)
    assert resp.header("etag") == full.header("etag")
    assert resp.header("last-modified") == full.header("last-modified")


@pytest.mark.parametrize(
    "value,expected",
    [
        ("bytes=0-13", slice(0, 14)),  # whitenoise test_request_initial_bytes
        ("bytes=-3", slice(-3, None)),  # whitenoise test_request_trailing_bytes
        ("bytes=21-30", slice(21, 31)),  # whitenoise test_request_middle_bytes
        ("bytes=21-100000", slice(21, None)),  # whitenoise test_overlong_ranges_truncated
        ("bytes=-100000", slice(None)),  # whitenoise test_overlong_trailing_ranges_return_entire_file
    ],
)
def test_whitenoise_ranges(server, value, expected):
    resp = get(server.port, "/static/js/app.js", Range=value)
    assert resp.status == 206, resp
    assert resp.body == JS[expected], resp


def test_read_partial_in_bounds(server):
    """tower-http read_partial_in_bounds."""
    resp = get(server.port, "/static/big.bin", Range="bytes=9-1023")
    assert resp.status == 206, resp.status
    assert resp.header("content-length") == str(1023 - 9 + 1)
    assert resp.header("content-range") == f"bytes 9-1023/{len(BIG)}"
    assert resp.header("content-type") == "application/octet-stream"
    assert resp.body == BIG[9:1024]


def test_read_partial_accepts_out_of_bounds_range(server):
    """tower-http read_partial_accepts_out_of_bounds_range."""
    resp = get(server.port, "/static/big.bin", Range="bytes=0-9999998")
    assert resp.status == 206, resp.status
    assert resp.header("content-range") == f"bytes 0-{len(BIG) - 1}/{len(BIG)}"
    assert resp.body == BIG


def test_range_in_a_large_file(server):
    start = len(LARGE) - 70_000
    resp = get(server.port, "/static/large.bin", Range=f"bytes={start}-{start + 65_535}")
    assert resp.status == 206, resp.status
    assert resp.header("content-range") == f"bytes {start}-{start + 65_535}/{len(LARGE)}"
    assert resp.body == LARGE[start : start + 65_536]


@pytest.mark.parametrize(
    "value",
    [
        "bytes=100000-",  # nginx 'not satisfiable - too big first byte pos'
        "bytes=1000-",
        "bytes=1000-2000",
        "bytes=-0",
        "bytes=alpha",  # nginx 'alpha in first byte pos'
        "bytes=10-alpha",  # nginx 'alpha in last byte pos'
        "bytes=10",  # nginx 'no hyphen'
        "bytes=10-11 12-",  # nginx 'no comma'
        "bytes=10-5",
        "bytes=-1-15",  # tower-http read_partial_errs_on_bad_range
        "bytes=100000-, 200000-",  # every member unsatisfiable
    ],
)
def test_unsatisfiable_or_invalid_range_is_416(server, value):
    """416 with Content-Range: bytes */size (nginx range.t; whitenoise test_out_of_range_error)."""
    resp = t1_range(server.port, value)
    assert resp.status == 416, resp
    assert resp.header("content-range") == "bytes */1000", resp
    assert NGINX_T1[:20] not in resp.body


def test_out_of_range_error(server):
    """whitenoise test_out_of_range_error."""
    resp = get(server.port, "/static/js/app.js", Range="bytes=10000-11000")
    assert resp.status == 416, resp
    assert resp.header("content-range") == f"bytes */{len(JS)}"


def test_read_partial_empty(server):
    """tower-http read_partial_empty asks `bytes=0-` of an empty file and expects 206 with
    `bytes 0-0/0` (which claims one byte of none). Here, as nginx does (start >=
    size), 416 with `bytes */0`."""
    resp = get(server.port, "/static/empty.txt", Range="bytes=0-")
    assert resp.status == 416, resp
    assert resp.header("content-range") == "bytes */0", resp


def test_range_with_other_unit_is_ignored(server):
    """An unknown unit: the Range header is ignored, 200 with the whole file."""
    resp = t1_range(server.port, "items=0-5")
    assert (resp.status, resp.body) == (200, NGINX_T1), resp
    assert not resp.has_header("content-range"), resp


def test_read_partial_errs_on_garbage_header(server):
    """tower-http read_partial_errs_on_garbage_header (`Range: bad_format`, no unit at all):
    416 as in tower-http (nginx would ignore it; RFC 9110 §14.2 allows either)."""
    resp = t1_range(server.port, "bad_format")
    assert resp.status == 416, resp
    assert resp.header("content-range") == "bytes */1000", resp


def test_head_ignores_range(server):
    resp = fetch(server.port, "HEAD", "/static/t1.html", {"Range": "bytes=0-8"})
    assert resp.status == 200, resp
    assert_no_body(resp)
    assert resp.header("content-length") == "1000"
    assert not resp.has_header("content-range"), resp


@pytest.mark.parametrize(
    "value,expected",
    [
        # nginx 'multipart'
        ("bytes=0-9, -10, 10-19", [(0, 9, b"X000XXXXXX"), (990, 999, b"X099XXXXXX"), (10, 19, b"X001XXXXXX")]),
        # nginx 'multipart big': the unsatisfiable member is dropped
        ("bytes=0-9, -10, 100000-, 10-19", [(0, 9, b"X000XXXXXX"), (990, 999, b"X099XXXXXX"), (10, 19, b"X001XXXXXX")]),
        # tower-http / RFC 9110 §14.6: in request order, clipped members
        ("bytes=500-509,0-0,995-2000", [(500, 509, b"X050XXXXXX"), (0, 0, b"X"), (995, 999, b"XXXXX")]),
    ],
)
def test_multipart_byteranges(server, value, expected):
    full = get(server.port, "/static/t1.html")
    resp = t1_range(server.port, value)
    assert resp.status == 206, resp
    assert not resp.has_header("content-range"), resp
    if resp.has_header("content-length"):
        assert int(resp.header("content-length")) == len(resp.body)
    assert resp.header("etag") == full.header("etag")
    assert resp.header("cache-control") == "public, max-age=60"
    parts = parse_multipart(resp)
    got = [(h.get("content-type"), h.get("content-range"), data) for h, data in parts]
    want = [("text/html; charset=utf-8", f"bytes {a}-{b}/1000", data) for a, b, data in expected]
    assert got == want


def test_multipart_with_one_satisfiable_member_is_a_single_range(server):
    resp = t1_range(server.port, "bytes=0-9, 100000-")
    assert resp.status == 206, resp
    assert resp.header("content-range") == "bytes 0-9/1000", resp
    assert resp.body == b"X000XXXXXX"


@pytest.mark.parametrize(
    "value",
    [
        "bytes=0-10001, 0-0",  # nginx 'not satisfiable - malicious byte ranges' (more than the file)
        "bytes=0-599, 400-999",  # 1200 bytes of a 1000-byte file
        ",".join(f"{i * 2}-{i * 2}" for i in range(33)),  # 33 ranges: more than 32
    ],
    ids=["nginx-malicious", "overlapping-more-than-file", "33-ranges"],
)
def test_multipart_too_much_is_a_full_200(server, value):
    if not value.startswith("bytes="):
        value = "bytes=" + value
    resp = t1_range(server.port, value)
    assert (resp.status, resp.body) == (200, NGINX_T1), resp
    assert not resp.has_header("content-range")


def test_multipart_32_ranges_allowed(server):
    value = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 3}" for i in range(32))
    resp = t1_range(server.port, value)
    assert resp.status == 206, resp
    parts = parse_multipart(resp)
    assert [(h["content-range"], d) for h, d in parts] == [
        (f"bytes {i * 10}-{i * 10 + 3}/1000", b"X%03d" % i) for i in range(32)
    ]


@pytest.mark.parametrize(
    "if_range,status",
    [
        ("wrong", 200),  # nginx range_if_range.t 'if-range wrong'
        ("{last_modified}", 206),  # nginx 'if-range' (the exact Last-Modified)
        ("{etag}", 206),
        ('"other-etag"', 200),
        ("W/{etag}", 200),  # If-Range needs a strong match
        (http_date(T_T1 + 3600), 200),  # a date other than Last-Modified
        (http_date(T_T1 - 3600), 200),
    ],
)
def test_if_range(server, if_range, status):
    full = get(server.port, "/static/t1.html")
    value = if_range.format(last_modified=full.header("last-modified"), etag=full.header("etag"))
    resp = t1_range(server.port, "bytes=0-9", If_Range=value)
    assert resp.status == status, resp
    assert resp.header("last-modified") == http_date(T_T1)  # nginx 'if-range wrong - last modified'
    if status == 206:
        assert (resp.header("content-range"), resp.body) == ("bytes 0-9/1000", b"X000XXXXXX"), resp
    else:
        assert resp.body == NGINX_T1


# ---------------------------------------------------------------------------
# Precompressed siblings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept,encoding",
    [
        (None, None),  # no header: identity
        ("", None),  # whitenoise test_get_not_accept_gzip
        ("identity", None),  # tower-http accept_encoding_identity
        ("gzip", "gzip"),  # whitenoise test_get_accept_gzip; tower-http precompressed_gzip
        ("br", "br"),  # tower-http precompressed_br
        ("gzip, deflate, br", "br"),  # ties: br > gzip
        ("br, gzip", "br"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0.2, gzip;q=0.8, identity;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),  # q=0 excludes
        ("br;q=0, gzip;q=0", None),
        ("gzip;q=0.5, identity;q=0.9", None),
        ("identity;q=0, gzip;q=0.1", "gzip"),
        ("deflate", None),
        ("*", "br"),  # '*' covers br and gzip; ties go to br (see test_get_accept_star)
        ("gzip;q=0.5, *;q=0.9", "br"),  # '*' covers the unlisted br
        ("*;q=0.1, br;q=0", "gzip"),
    ],
)
def test_precompressed_negotiation(server, accept, encoding):
    headers = {} if accept is None else {"Accept-Encoding": accept}
    resp = fetch(server.port, "GET", "/static/app.css", headers)
    assert resp.status == 200, resp
    body = {None: CSS, "gzip": CSS_GZ, "br": CSS_BR}[encoding]
    assert resp.header("content-encoding") == encoding, resp
    assert resp.body == body
    assert_file_headers(resp, "text/css; charset=utf-8", len(body))  # Content-Type stays the original's
    assert vary_tokens(resp) == {"accept-encoding"}, resp


def test_get_accept_star(server):
    """whitenoise test_get_accept_star sends `Accept-Encoding: *` to a file with a gzip
    sibling and expects identity. RFC 9110 §12.5.3 makes `*` accept every coding not
    listed; hurricane breaks the tie br > gzip > identity, so the gzip sibling
    is sent when there is no br one."""
    resp = get(server.port, "/static/gzonly.txt", Accept_Encoding="*")
    assert resp.status == 200, resp
    assert resp.header("content-encoding") == "gzip", resp
    assert resp.body == gzip_bytes(GZONLY)
    assert vary_tokens(resp) == {"accept-encoding"}


def test_precompressed_gzip_decompresses_to_the_original(server):
    resp = get(server.port, "/static/app.css", Accept_Encoding="gzip")
    assert resp.header("content-encoding") == "gzip"
    assert gzip.decompress(resp.body) == CSS


def test_precompresed_head_request(server):
    """tower-http precompresed_head_request, precompressed_head_request_includes_vary_header."""
    resp = fetch(server.port, "HEAD", "/static/app.css", {"Accept-Encoding": "gzip"})
    assert resp.status == 200, resp
    assert_no_body(resp)
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("content-length") == str(len(CSS_GZ))
    assert resp.header("content-type") == "text/css; charset=utf-8"
    assert vary_tokens(resp) == {"accept-encoding"}


@pytest.mark.parametrize(
    "path,accept,encoding,body",
    [
        # tower-http unsupported_precompression_alogrithm_fallbacks_to_uncompressed,
        # vary_header_present_when_precompressed_configured_but_fallback_to_uncompressed
        ("/static/gzonly.txt", "br", None, GZONLY),
        ("/static/gzonly.txt", "gzip, br", "gzip", gzip_bytes(GZONLY)),
        # tower-http fallbacks_to_different_precompressed_variant_if_not_found
        ("/static/bronly.txt", "gzip,br,deflate", "br", BRONLY_BR),
        ("/static/bronly.txt", "gzip", None, BRONLY),
    ],
)
def test_precompressed_fallback(server, path, accept, encoding, body):
    resp = get(server.port, path, Accept_Encoding=accept)
    assert resp.status == 200, resp
    assert resp.header("content-encoding") == encoding, resp
    assert resp.body == body
    assert resp.header("content-type") == "text/plain; charset=utf-8"
    assert vary_tokens(resp) == {"accept-encoding"}, resp  # a sibling exists: Vary, identity too


def test_missing_precompressed_variant_fallbacks_to_uncompressed(server):
    """tower-http missing_precompressed_variant_fallbacks_to_uncompressed (+ _for_head_request),
    no_vary_header_without_precompressed_serving: no sibling, no Content-Encoding, no Vary."""
    resp = get(server.port, "/static/plain.txt", Accept_Encoding="gzip, br")
    assert (resp.status, resp.body) == (200, PLAIN), resp
    assert not resp.has_header("content-encoding") and not vary_tokens(resp), resp
    head = fetch(server.port, "HEAD", "/static/plain.txt", {"Accept-Encoding": "gzip"})
    assert head.status == 200 and head.header("content-length") == str(len(PLAIN)), head
    assert not head.has_header("content-encoding"), head
    assert_no_body(head)


def test_not_found_precompressed(server):
    """tower-http not_found_precompressed."""
    resp = get(server.port, "/static/not-found", Accept_Encoding="gzip")
    assert resp.status == 404, resp


def test_etag_per_encoding(server):
    """Each encoding has its own ETag, and a 304 answers only its own encoding's ETag."""
    tags = {}
    for enc in ("identity", "gzip", "br"):
        resp = get(server.port, "/static/app.css", Accept_Encoding=enc)
        assert resp.status == 200, resp
        tags[enc] = resp.header("etag")
    assert len(set(tags.values())) == 3, tags
    for enc, tag in tags.items():
        same = get(server.port, "/static/app.css", Accept_Encoding=enc, If_None_Match=tag)
        assert same.status == 304, (enc, same)
        assert same.header("etag") == tag, same
        assert vary_tokens(same) == {"accept-encoding"}, same  # 304 carries Vary
        for other in ("identity", "gzip", "br"):
            if other != enc:
                resp = get(server.port, "/static/app.css", Accept_Encoding=other, If_None_Match=tag)
                assert resp.status == 200, (enc, other, resp)
                assert resp.header("etag") == tags[other]


def test_range_applies_to_the_selected_encoding(server):
    resp = get(server.port, "/static/app.css", Accept_Encoding="gzip", Range="bytes=0-9")
    assert resp.status == 206, resp
    assert resp.header("content-encoding") == "gzip"
    assert resp.header("content-range") == f"bytes 0-9/{len(CSS_GZ)}"
    assert resp.body == CSS_GZ[:10]
    assert vary_tokens(resp) == {"accept-encoding"}
    resp = get(server.port, "/static/app.css", Accept_Encoding="br", Range="bytes=-4")
    assert (resp.status, resp.body) == (206, CSS_BR[-4:]), resp
    assert resp.header("content-range") == f"bytes {len(CSS_BR) - 4}-{len(CSS_BR) - 1}/{len(CSS_BR)}"


# ---------------------------------------------------------------------------
# Safe paths, symlinks, hidden files, directories
# ---------------------------------------------------------------------------

UNSAFE_PATHS = [
    "/static/../secret.txt",
    "/static/../../../../../../../../etc/passwd",
    "/static/js/../../secret.txt",
    "/static/js/../app.css",  # a `..` that would stay inside the root is refused too
    "/static/./app.css",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/%2e./secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/app%2ecss",  # an encoded dot anywhere, even where it would name a real file
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/js%2fapp.js",  # an encoded separator, even where it would name a real file
    "/static/js%2Fapp.js",
    "/static/%2fetc%2fpasswd",
    "/static/..%5csecret.txt",
    "/static/..%5Csecret.txt",
    "/static/js%5capp.js",
    "/static/%5c..%5csecret.txt",
    "/static//etc/passwd",  # empty segments / absolute paths
    "/static//app.css",
    "/static/js//app.js",
    "/static/app.css%00",  # NUL
    "/static/app.css%00.txt",
    "/static/invalid-path%00",  # tower-http calls_fallback_on_null
    "/static/C:/Windows/win.ini",  # tower-http reject_windows_drive_prefixed_path; whitenoise test_cant_read_absolute_paths_on_windows
    "/static/anypath/c%3A/windows/win.ini",  # tower-http reject_percent_encoded_windows_drive_prefixed_path
    "/static/a:b.txt",  # a colon in a segment, though a:b.txt exists
    "/static/a%3Ab.txt",
    "/static/weird_%c3%28_path",  # tower-http calls_fallback_on_invalid_paths (the file exists, named in bytes)
    "/static/%ff%fe.txt",
    "/static/link-outside.txt",  # symlinks out of the root
    "/static/link-abs-outside.txt",
    "/static/dirlink-outside/secret.txt",
    "/static/dirlink-outside/app.js",
    "/static/.hidden",  # hidden files
    "/static/.git/config",
    "/static/sub/.env",
    "/static/.well-known/security.txt",
    "/static/%2ehidden",
    "/media/../secret.txt",
    "/media/%2e%2e/secret.txt",
    "/media/..%2fsecret.txt",
    "/media//etc/passwd",
    "/media/link-outside.txt",
    "/media/.hidden",
]


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_unsafe_paths_are_404(server, path):
    resp = get(server.port, path)
    assert resp.status == 404, resp
    assert SECRET not in resp.body and b"root:" not in resp.body, resp
    assert CSS[:20] not in resp.body and JS[:20] not in resp.body, resp


@pytest.mark.parametrize("path", ["/static/..\\secret.txt", "/static/js\\app.js", "/static/\\etc\\passwd", "/static/%5c%2e%2e%5csecret.txt"])
def test_backslashes_are_refused(server, path):
    """Raw and encoded backslashes: 404, never a file."""
    resp = get(server.port, path)
    assert resp.status == 404, resp
    assert SECRET not in resp.body and JS[:20] not in resp.body, resp


@pytest.mark.parametrize(
    "path,body",
    [("/static/link-inside.txt", NGINX_T1), ("/static/dirlink-inside/app.js", JS), ("/static/sub/ok.txt", b"ok\n")],
)
def test_symlinks_inside_the_root_are_followed(server, path, body):
    resp = get(server.port, path)
    assert (resp.status, resp.body) == (200, body), resp


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static/js",
        "/static/js/",
        "/static/dir",
        "/static/dir/",
        "/static/dirlink-inside",
        "/static/dirlink-inside/",
        "/media/",
        "/static/app.css/",  # tower-http not_found_when_file_requested_with_trailing_slash
        "/static/t1.html/some_file",  # tower-http not_found_when_not_a_directory
    ],
)
def test_directories_are_404_without_listing(server, path):
    """tower-http empty_directory_without_index(_no_information_leak): 404, no listing, no index."""
    resp = get(server.port, path)
    assert resp.status == 404, resp
    for name in (b"inner.txt", b"app.js", b"app.css", b"photo.png", b"t1.html"):
        assert name not in resp.body, resp


@pytest.mark.parametrize(
    "path",
    [
        "/static/not-found",  # tower-http not_found
        "/static/test%E2%98%BA",  # whitenoise test_non_ascii_requests_safely_ignored
        "/static/invalid|path",  # tower-http calls_fallback_on_invalid_filenames
        "/static/" + "blah" * 1000,  # whitenoise test_no_error_on_very_long_filename
        "/static/" + "/".join(["blah"] * 300),
        "/media/not-found.png",
    ],
    ids=["not-found", "non-ascii", "pipe", "long-name", "deep-path", "media"],
)
def test_missing_files_are_404(server, path):
    resp = get(server.port, path)
    assert resp.status == 404, resp


# ---------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------


def test_media_file(server):
    resp = get(server.port, "/media/photo.png")
    assert (resp.status, resp.body) == (200, PNG), resp
    assert_file_headers(resp, "image/png", len(PNG), cache_control="no-cache")


def test_media_conditionals_and_ranges(server):
    etag = get(server.port, "/media/doc.txt").header("etag")
    resp = get(server.port, "/media/doc.txt", If_None_Match=etag)
    assert resp.status == 304 and resp.header("cache-control") == "no-cache", resp
    resp = get(server.port, "/media/doc.txt", Range="bytes=2-6")
    assert (resp.status, resp.body) == (206, b"media"), resp
    assert resp.header("content-range") == "bytes 2-6/17"


# ---------------------------------------------------------------------------
# Changes on disk
# ---------------------------------------------------------------------------


def test_file_change_is_picked_up(server, site):
    path = site.static / "changing.txt"
    for _ in range(3):  # a hot file
        first = get(server.port, "/static/changing.txt")
    assert (first.status, first.body) == (200, b"version 1\n"), first
    path.write_bytes(b"version 2, longer\n")
    start = time.monotonic()
    resp = poll_until(
        lambda: get(server.port, "/static/changing.txt"),
        4.0,
        until=lambda r: r.body == b"version 2, longer\n",
        interval=0.1,
        what="the new content",
    )
    waited = time.monotonic() - start
    assert waited < 3.0, f"the change took {waited:.1f}s to show"
    assert resp.header("content-length") == str(len(b"version 2, longer\n"))
    assert resp.header("etag") != first.header("etag"), "the ETag did not change with the file"
    stale = get(server.port, "/static/changing.txt", If_None_Match=first.header("etag"))
    assert (stale.status, stale.body) == (200, b"version 2, longer\n"), stale


def test_deleted_file_becomes_404(server, site):
    for _ in range(3):
        assert get(server.port, "/static/deleted.txt").status == 200
    (site.static / "deleted.txt").unlink()
    start = time.monotonic()
    poll_until(lambda: get(server.port, "/static/deleted.txt"), 4.0, until=lambda r: r.status == 404, interval=0.1, what="404")
    waited = time.monotonic() - start
    assert waited < 3.0, waited


def test_new_file_is_served(server, site):
    name = f"new-{uuid.uuid4().hex[:8]}.txt"
    (site.static / name).write_bytes(b"brand new\n")
    resp = get(server.port, f"/static/{name}")
    assert (resp.status, resp.body) == (200, b"brand new\n"), resp


# ---------------------------------------------------------------------------
# Access log
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,headers,status",
    [
        ("/static/plain.txt", {}, 200),
        ("/static/no-such-{tag}.txt", {}, 404),
        ("/static/t1.html", {"Range": "bytes=0-1"}, 206),
        ("/media/doc.txt", {}, 200),
    ],
)
def test_access_log_line(server, path, headers, status):
    path = path.format(tag=uuid.uuid4().hex[:8])
    mark = server.mark()
    resp = fetch(server.port, "GET", path, headers)
    assert resp.status == status, resp
    server.wait_log(ACCESS_RE.format(status=status, method="GET", path=re.escape(path)), since=mark)


# ---------------------------------------------------------------------------
# The GIL
# ---------------------------------------------------------------------------


def test_static_answers_while_a_view_holds_the_gil(server, site):
    """While /wedge holds the GIL (a catastrophic regular expression, one C call that never
    releases it) for about 2 s, static and media requests are answered at once.

    The view's length varies (its calibration runs on a noisy machine): what proves the
    point is that it finished only after every static request had been answered."""
    marker = site.flags / "wedge.started"
    flag_off(site.flags, "wedge.started")
    out = []

    def wedge():
        try:
            out.append(fetch(server.port, "GET", "/wedge?seconds=2", timeout=60))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            out.append(exc)
        out.append(time.monotonic())

    thread = threading.Thread(target=wedge, daemon=True)
    thread.start()
    poll_until(marker.exists, 15, interval=0.01, what="the /wedge view to start")
    timings = []
    for path, status, body in [
        ("/static/app.css", 200, CSS),
        ("/static/big.bin", 200, BIG),
        ("/static/no-such-file.css", 404, None),
        ("/media/photo.png", 200, PNG),
    ]:
        start = time.monotonic()
        resp = get(server.port, path)
        took = time.monotonic() - start
        timings.append((path, round(took, 3)))
        assert resp.status == status, resp
        if body is not None:
            assert resp.body == body
    done = time.monotonic()
    thread.join(60)
    assert len(out) == 2 and getattr(out[0], "status", None) == 200, out
    wedged_for = json.loads(out[0].body)["seconds"]
    assert wedged_for > 0.5, f"the view held the GIL only {wedged_for:.2f}s; the test proves nothing"
    assert out[1] > done, "the view finished before the static requests: they did not overlap"
    assert max(t for _, t in timings) < 0.5, f"static requests waited for the GIL: {timings}"

