"""Static and media files with Django (README "Static and media files"):
where the options come from (`--static`, `HURRICANE_STATIC`, the Django setting
`HURRICANE_STATIC = True`, `--static-max-age` and its variable), STATIC_URL as a full
URL, finder mode with DEBUG on (no collectstatic, STATICFILES_DIRS with and without a
prefix, each app's static/), `--command "collectstatic --noinput"` with Django's
ManifestStaticFilesStorage, a MEDIA_ROOT created after start-up, refusals to start
for every bad setting, the `hurricane_info` labels and the request counters.

All servers load tests/apps/testsettings/static.py (see its docstring for the
STATICTEST_* variables) in a copy of examples/mysite.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from support.env import APPS, PANIC_WORDS, base_env, requires
from support.poll import poll_until
from support.probes import sample_value, scrape
from support.server import run_hurricane
from support.static import STATIC_SETTINGS, ETAG_RE, assert_no_panic, get, write_tree

pytestmark = requires("static")

APP_STATIC = APPS / "statictest" / "static"
APP_CSS = (APP_STATIC / "statictest" / "app.css").read_bytes()
CSS = b".from-static-root { }\n"


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("static-django")
    static = write_tree(base / "static", {"app.css": CSS, "js/app.js": "js\n", "metrics.css": "m { }\n"})
    media = write_tree(base / "media", {"doc.txt": "media doc\n"})
    dirs_a = write_tree(base / "dirs-a", {"dupe.txt": "from STATICFILES_DIRS\n", "a-only.txt": "a only\n", ".hidden": "hidden\n"})
    dirs_b = write_tree(base / "dirs-b", {"lib.js": "vendor lib\n"})
    (base / "secret.txt").write_text("secret\n")
    (base / "a-file").write_text("not a directory\n")
    return SimpleNamespace(base=base, static=static, media=media, dirs_a=dirs_a, dirs_b=dirs_b)


# ---------------------------------------------------------------------------
# HURRICANE_STATIC / HURRICANE_STATIC_MAX_AGE in the environment, STATIC_URL a full URL
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_server(start_server, mysite, roots):
    """Static on through the environment only (no --static), STATIC_URL on a CDN host,
    media off."""
    env = base_env(
        HURRICANE_STATIC="1",
        HURRICANE_STATIC_MAX_AGE="120",
        STATICTEST_STATIC_URL="https://cdn.example.com/s/",
        STATICTEST_STATIC_ROOT=roots.static,
        STATICTEST_MEDIA_ROOT=roots.media,
    )
    return start_server("static-env", STATIC_SETTINGS, mysite, env)


def test_hurricane_static_env(env_server, roots):
    """HURRICANE_STATIC=1 serves STATIC_ROOT under the *path* of STATIC_URL
    ("https://cdn.example.com/s/" -> /s/); HURRICANE_STATIC_MAX_AGE sets the max-age."""
    resp = get(env_server.port, "/s/app.css")
    assert (resp.status, resp.body) == (200, CSS), resp
    assert resp.header("cache-control") == "public, max-age=120", resp
    assert resp.header("content-type") == "text/css; charset=utf-8"
    log = env_server.log()
    assert any(f"Serving static files under /s/ from {r}" in log for r in (str(roots.static), os.path.realpath(roots.static))), log
    assert "Serving media files" not in log


def test_route_under_url_path_wins_over_django(env_server):
    resp = get(env_server.port, "/s/django-view")
    assert resp.status == 404, resp
    assert b"django-view" not in resp.body


@pytest.mark.parametrize("path", ["/static/django-view", "/media/django-view"])
def test_django_answers_under_a_prefix_that_is_not_served(env_server, path):
    """The control for test_static_http.py::test_routes_win_over_django_urls: with the
    route off (media off; static under /s/ here) the Django view at that URL answers."""
    resp = get(env_server.port, path)
    assert (resp.status, resp.body) == (200, f"django-view {path}".encode()), resp


def test_info_labels_static_only(env_server):
    info = scrape(env_server)["hurricane_info"].samples[0]
    assert (info.labels["serve_static"], info.labels["serve_media"]) == ("true", "false"), info


# ---------------------------------------------------------------------------
# HURRICANE_STATIC / HURRICANE_MEDIA as Django settings, --static-max-age
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings_server(start_server, mysite, roots):
    settings = {"HURRICANE_STATIC": True, "HURRICANE_MEDIA": True}
    env = base_env(
        STATICTEST_SETTINGS=json.dumps(settings), STATICTEST_STATIC_ROOT=roots.static, STATICTEST_MEDIA_ROOT=roots.media
    )
    return start_server("static-settings", [*STATIC_SETTINGS, "--static-max-age", "3600"], mysite, env)


@pytest.mark.launchers
def test_static_and_media_from_django_settings(settings_server, roots):
    """The Django settings HURRICANE_STATIC = True and HURRICANE_MEDIA = True (every
    option's setting is `HURRICANE_<NAME>`)."""
    resp = get(settings_server.port, "/static/app.css")
    assert (resp.status, resp.body) == (200, CSS), resp
    assert resp.header("cache-control") == "public, max-age=3600", resp  # --static-max-age
    media = get(settings_server.port, "/media/doc.txt")
    assert (media.status, media.body) == (200, b"media doc\n"), media
    assert media.header("cache-control") == "no-cache", media  # --static-max-age is for static only
    log = settings_server.log()
    assert "Serving static files under /static/ from " in log and "Serving media files under /media/ from " in log, log


def test_info_labels_static_and_media(settings_server):
    info = scrape(settings_server)["hurricane_info"].samples[0]
    assert (info.labels["serve_static"], info.labels["serve_media"]) == ("true", "true"), info


def test_static_requests_are_counted(settings_server):
    """request_counter_total and path_requests_total count static hits like app requests."""
    port = settings_server.port

    def counts():
        families = scrape(settings_server)
        total = sample_value(families, "request_counter", "request_counter_total") or 0
        path = sample_value(families, "path_requests", "path_requests_total", method="GET", path="/static/metrics.css") or 0
        return total, path

    total0, path0 = counts()
    for _ in range(3):
        assert get(port, "/static/metrics.css").status == 200
    total, path = poll_until(counts, 5.0, until=lambda c: c[0] >= total0 + 3, interval=0.1, what="request_counter_total + 3")
    assert total == total0 + 3, (total0, total)
    assert path == path0 + 3, (path0, path)


# ---------------------------------------------------------------------------
# Finder mode: DEBUG on, no STATIC_ROOT, no collectstatic
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finder_server(start_server, mysite, roots):
    env = base_env(
        STATICTEST_DEBUG="1",
        STATICTEST_STATICFILES_DIRS=json.dumps([str(roots.dirs_a), ["vendor", str(roots.dirs_b)]]),
    )
    return start_server("static-finders", [*STATIC_SETTINGS, "--static"], mysite, env)


def test_finder_mode_log_line(finder_server):
    log = finder_server.log()
    assert "Serving static files under /static/ through Django's staticfiles finders (DEBUG)" in log, log


@pytest.mark.parametrize(
    "path,body",
    [
        ("/static/statictest/app.css", APP_CSS),  # the app's static/ directory
        ("/static/statictest/only-app.txt", b"only in the statictest app\n"),
        ("/static/a-only.txt", b"a only\n"),  # a STATICFILES_DIRS directory
        ("/static/vendor/lib.js", b"vendor lib\n"),  # a (prefix, directory) entry
        ("/static/dupe.txt", b"from STATICFILES_DIRS\n"),  # finder order: STATICFILES_DIRS before apps
    ],
)
@pytest.mark.launchers
def test_finder_mode_serves_found_files(finder_server, path, body):
    resp = get(finder_server.port, path)
    assert (resp.status, resp.body) == (200, body), resp
    assert resp.header("cache-control") == "public, max-age=0", resp  # the default with DEBUG on
    assert ETAG_RE.fullmatch(resp.header("etag") or ""), resp
    assert resp.header("x-content-type-options") == "nosniff"


def test_finder_mode_conditional_request(finder_server):
    etag = get(finder_server.port, "/static/statictest/app.css").header("etag")
    resp = get(finder_server.port, "/static/statictest/app.css", If_None_Match=etag)
    assert resp.status == 304, resp


@pytest.mark.parametrize(
    "path",
    [
        "/static/lib.js",  # only under its prefix
        "/static/vendor/a-only.txt",
        "/static/app.css",  # not in any finder directory
        "/static/.hidden",
        "/static/statictest/../dupe.txt",
        "/static/vendor/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/statictest/",
        "/static/django-view",
    ],
)
def test_finder_mode_404(finder_server, path):
    resp = get(finder_server.port, path)
    assert resp.status == 404, resp
    assert b"secret" not in resp.body and b"django-view" not in resp.body and b"hidden" not in resp.body


# ---------------------------------------------------------------------------
# --command "collectstatic --noinput" with ManifestStaticFilesStorage
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collected_server(start_server, mysite, tmp_path_factory):
    root = tmp_path_factory.mktemp("collect") / "collected"  # does not exist yet
    env = base_env(STATICTEST_STATIC_ROOT=root, STATICTEST_MANIFEST="1")
    server = start_server("static-collect", [*STATIC_SETTINGS, "--static", "--command", "collectstatic --noinput"], mysite, env)
    server.root = root
    return server


def test_collectstatic_command_creates_static_root_then_it_is_served(collected_server):
    root = collected_server.root
    assert (root / "staticfiles.json").is_file(), list(root.iterdir()) if root.exists() else "STATIC_ROOT missing"
    resp = get(collected_server.port, "/static/statictest/app.css")
    assert (resp.status, resp.body) == (200, APP_CSS), resp
    assert resp.header("cache-control") == "public, max-age=60", resp  # the unhashed name


def test_manifest_storage_hashed_names_are_immutable(collected_server):
    """whitenoise test_django_whitenoise: files named by their hashed name in Django's
    staticfiles.json are immutable, the original names are not."""
    manifest = json.loads((collected_server.root / "staticfiles.json").read_text())
    paths = manifest["paths"]
    assert {"statictest/app.css", "dupe.txt"} <= set(paths), paths
    for original in ("statictest/app.css", "dupe.txt"):
        hashed = paths[original]
        assert hashed != original
        resp = get(collected_server.port, f"/static/{hashed}")
        assert resp.status == 200, resp
        assert resp.body == (collected_server.root / hashed).read_bytes()
        assert resp.header("cache-control") == "public, max-age=31536000, immutable", resp
        plain = get(collected_server.port, f"/static/{original}")
        assert plain.header("cache-control") == "public, max-age=60", plain


# ---------------------------------------------------------------------------
# MEDIA_ROOT that does not exist yet (a fresh deployment: Django creates it at the
# first upload)
# ---------------------------------------------------------------------------


def test_media_root_created_after_start_is_served(one_server, mysite, tmp_path):
    """The server starts with one warning naming MEDIA_ROOT; files under MEDIA_URL are
    404 (from hurricane, not Django) until the directory appears, then served without a
    restart."""
    media = tmp_path / "media"
    server = one_server("media-later", [*STATIC_SETTINGS, "--media"], mysite, base_env(STATICTEST_MEDIA_ROOT=media))
    log = server.log()
    named = [line for line in log.splitlines() if str(media) in line]
    assert len(named) == 1, log
    assert "WARN" in named[0] and "MEDIA_ROOT" in named[0] and "does not exist yet" in named[0], log
    for path in ("/media/photo.txt", "/media/django-view"):
        resp = get(server.port, path)
        assert resp.status == 404, resp
        assert b"django-view" not in resp.body, resp

    write_tree(media, {"photo.txt": b"uploaded \x00\xff\n"})
    resp = poll_until(
        lambda: (r := get(server.port, "/media/photo.txt")).status == 200 and r,
        timeout=10,
        what="/media/photo.txt served after MEDIA_ROOT was created",
    )
    assert resp.body == b"uploaded \x00\xff\n", resp
    assert resp.header("cache-control") == "no-cache", resp
    assert get(server.port, "/media/other.txt").status == 404
    assert server.alive()
    assert server.stop() == 0, server.tail()
    assert_no_panic(server.log())


# ---------------------------------------------------------------------------
# Refusals to start
# ---------------------------------------------------------------------------

# name: (extra args, STATICTEST_* variables ({root}, {missing}, {file} filled in), words the error names)
REFUSALS = {
    "static-url-empty": (["--static"], {"STATICTEST_STATIC_URL": "", "STATICTEST_STATIC_ROOT": "{root}"}, ["STATIC_URL"]),
    "static-url-slash": (["--static"], {"STATICTEST_STATIC_URL": "/", "STATICTEST_STATIC_ROOT": "{root}"}, ["STATIC_URL"]),
    "static-url-cdn-root": (
        ["--static"],
        {"STATICTEST_STATIC_URL": "https://cdn.example.com/", "STATICTEST_STATIC_ROOT": "{root}"},
        ["STATIC_URL"],
    ),
    "static-root-unset": (["--static"], {}, ["STATIC_ROOT"]),
    "static-root-empty": (["--static"], {"STATICTEST_STATIC_ROOT": ""}, ["STATIC_ROOT"]),
    "static-root-missing": (["--static"], {"STATICTEST_STATIC_ROOT": "{missing}"}, ["STATIC_ROOT", "does not exist"]),
    "static-root-file": (["--static"], {"STATICTEST_STATIC_ROOT": "{file}"}, ["STATIC_ROOT", "is not a directory"]),
    # DEBUG on but django.contrib.staticfiles not installed: no finder mode, STATIC_ROOT needed
    "static-debug-without-staticfiles-app": (["--static"], {"STATICTEST_DEBUG": "1", "STATICTEST_NO_STATICFILES": "1"}, ["STATIC_ROOT"]),
    "static-env-root-missing": ([], {"HURRICANE_STATIC": "1", "STATICTEST_STATIC_ROOT": "{missing}"}, ["STATIC_ROOT", "does not exist"]),
    "media-url-empty": (["--media"], {"STATICTEST_MEDIA_URL": "", "STATICTEST_MEDIA_ROOT": "{root}"}, ["MEDIA_URL"]),
    "media-url-slash": (["--media"], {"STATICTEST_MEDIA_URL": "/", "STATICTEST_MEDIA_ROOT": "{root}"}, ["MEDIA_URL"]),
    "media-root-unset": (["--media"], {}, ["MEDIA_ROOT"]),
    "media-root-empty": (["--media"], {"STATICTEST_MEDIA_ROOT": ""}, ["MEDIA_ROOT"]),
    # A missing MEDIA_ROOT is waited for (test_media_root_created_after_start_is_served),
    # but one that exists as a file, or lies below a file, can never be served.
    "media-root-file": (["--media"], {"STATICTEST_MEDIA_ROOT": "{file}"}, ["MEDIA_ROOT", "is not a directory"]),
    "media-root-below-a-file": (["--media"], {"STATICTEST_MEDIA_ROOT": "{file}/media"}, ["MEDIA_ROOT", "Not a directory"]),
}


@pytest.fixture(scope="module")
def refusals(mysite, roots):
    """Every REFUSALS case run to completion, four at a time: {name: (rc, stderr, stdout)}."""
    fill = {"root": str(roots.static), "missing": str(roots.base / "no-such-dir"), "file": str(roots.base / "a-file")}

    def fill_in(value: str) -> str:
        for key, path in fill.items():
            value = value.replace("{%s}" % key, path)
        return value

    def run(case):
        args, variables, _ = REFUSALS[case]
        env = base_env(**{k: fill_in(v) for k, v in variables.items()})
        return case, run_hurricane(["serve", *STATIC_SETTINGS, *args], mysite, env, listen=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, REFUSALS))


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refuses_to_start(refusals, case):
    rc, err, out = refusals[case]
    words = REFUSALS[case][2]
    assert rc == 1, f"exit status {rc}, expected 1\n{err}"
    lines = [line for line in err.splitlines() if all(w in line for w in words)]
    assert lines, f"no line of stderr names {words}:\n{err}"
    assert not any(w in err + out for w in PANIC_WORDS), err
    assert "Starting HTTP server" not in err, err
