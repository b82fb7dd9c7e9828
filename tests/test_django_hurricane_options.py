"""django-hurricane 1.6.2's `serve` options that hurricane takes with a compatible
meaning, and its settings that hurricane no longer reads.

- `--debug` (HURRICANE_DEBUG in the environment or the Django settings): an error
  outside Django's own handling (the WSGI application raising, an import failing at
  request time, a response body failing before its head) answers 500 with the Python
  traceback as text/plain; without it the body stays generic. It reloads on an edit as
  `--autoreload` does (one supervisor: the servers it starts do not supervise again),
  and is refused with a debugger, whatever the source of either.
- `--max-buffer-size` (flag, environment, setting): a body limit; the smaller of it and
  `--max-body-size` applies (413).
- Unprefixed settings (`PORT`, ...), which django-hurricane read as options: one
  start-up warning naming them, none for Django's own `DEBUG` or for a setting that
  also has its `HURRICANE_` name.
"""

from __future__ import annotations

import json
import re

import pytest

from support.client import build, chunked, exchange, port_refuses, request
from support.env import PANIC_WORDS, base_env, free_port, requires
from support.poll import poll_until
from support.probes import PYTHONPATH, probes_env
from support.projects import ORIGINAL_HELLO, make_site, set_hello
from support.reload import WATCHING_RE, child_pid, get, pid_alive, wait_body, wait_reloads
from support.server import Server, run_hurricane, stop_all_and_reap

OPTS_SETTINGS = ["--settings", "testsettings.hurricane_opts", *PYTHONPATH]
WRAPPED = {"WSGI_APPLICATION": "wrapped_django_app.application"}
GENERIC_500 = b"Internal Server Error\n"
ERRORS = {
    "/outside/raise": "RuntimeError: raised by the WSGI wrapper, outside Django",
    "/outside/import": "ModuleNotFoundError: No module named 'hurricane_test_module_missing_at_request_time'",
    "/outside/iterator": "LookupError: the response body failed before its first chunk",
}
UNPREFIXED_WARNING = "not read by hurricane"


def settings_env(**settings) -> dict[str, str]:
    """The environment for testsettings.hurricane_opts with these Django settings."""
    return probes_env(PROBETEST_SETTINGS=json.dumps(settings))


@pytest.fixture
def servers(logdir, request):
    """Factory for servers owned by one test, which may supervise children (--debug):
    at the end each one still running gets SIGTERM and must exit 0, then whatever is
    left of its process group is killed."""
    started: list[Server] = []
    base = re.sub(r"[^\w.-]+", "_", request.node.name)

    def _start(args: list[str], cwd, env: dict[str, str] | None = None) -> Server:
        server = Server(f"compat-{base}-{len(started)}", args, cwd, logdir, env)
        started.append(server)
        return server.start()

    yield _start
    stop_all_and_reap(started)


# ---------------------------------------------------------------------------
# --debug: tracebacks for errors outside Django
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_server(start_server, mysite):
    """The wrapped project without --debug."""
    return start_server("compat-no-debug", OPTS_SETTINGS, mysite, settings_env(**WRAPPED))


@pytest.fixture(scope="module", params=["env", "setting"])
def debug_server(request, start_server, mysite, tmp_path_factory):
    """The wrapped project with HURRICANE_DEBUG in the environment or in the Django
    settings, in a copy of its own (--debug watches it)."""
    site = make_site(mysite, tmp_path_factory.mktemp(f"debug-{request.param}") / "site")
    if request.param == "env":
        env = settings_env(**WRAPPED)
        env["HURRICANE_DEBUG"] = "1"
    else:
        env = settings_env(**WRAPPED, HURRICANE_DEBUG=True)
    server = start_server(f"compat-debug-{request.param}", OPTS_SETTINGS, site, env)
    server.debug_source = request.param
    return server


@requires("reload")
@pytest.mark.launchers
@pytest.mark.parametrize("path", sorted(ERRORS))
def test_debug_answers_an_error_outside_django_with_its_traceback(debug_server, path):
    resp = request(debug_server.port, "GET", path)
    assert resp.status == 500, resp
    assert resp.header("content-type") == "text/plain; charset=utf-8", resp
    body = resp.body.decode()
    assert body.startswith("Traceback (most recent call last):\n"), body
    assert "wrapped_django_app.py" in body, body
    assert body.rstrip().endswith(ERRORS[path]), body
    assert int(resp.header("content-length")) == len(resp.body)
    # Logged as well, as without --debug (the log may trail the response).
    poll_until(lambda: ERRORS[path] in debug_server.log(), 5, what=f"{ERRORS[path]!r} in the log")


@pytest.mark.launchers
@pytest.mark.parametrize("path", sorted(ERRORS))
def test_without_debug_the_500_stays_generic(plain_server, path):
    resp = request(plain_server.port, "GET", path)
    assert (resp.status, resp.body) == (500, GENERIC_500), resp
    assert resp.header("content-type") == "text/plain; charset=utf-8", resp
    poll_until(lambda: ERRORS[path] in plain_server.log(), 5, what=f"{ERRORS[path]!r} in the log")
    assert "Watching for changes" not in plain_server.log()


@requires("reload")
def test_debug_leaves_django_and_its_own_errors_alone(debug_server):
    assert request(debug_server.port, "GET", "/hello").body == ORIGINAL_HELLO.encode()
    resp = request(debug_server.port, "GET", "/error")  # a view raising: Django's 500 (DEBUG off)
    assert resp.status == 500, resp
    assert b"Traceback" not in resp.body, resp
    assert resp.header("content-type").startswith("text/html"), resp


@requires("reload")
def test_debug_runs_one_supervisor_whose_servers_keep_debug(debug_server):
    """--debug reloads: the process started is a supervisor (the tracebacks above come
    from the server it started), and that server did not start another one."""
    log = debug_server.log()
    assert len(re.findall(WATCHING_RE, log)) == 1, log
    assert child_pid(debug_server) != debug_server.pid
    if debug_server.debug_source == "setting":
        assert "HURRICANE_DEBUG in the Django settings: reloading on changes" in log, log


# ---------------------------------------------------------------------------
# --debug: reloads after an edit
# ---------------------------------------------------------------------------


@requires("reload")
@pytest.mark.launchers
@pytest.mark.parametrize("source", ["flag", "setting"])
def test_debug_reloads_after_an_edit(servers, mysite, tmp_path, source):
    site = make_site(mysite, tmp_path / "site")
    if source == "flag":
        args = ["--debug"]
    else:
        (site / "mysite" / "settings_debug.py").write_text("from .settings import *  # noqa\n\nHURRICANE_DEBUG = True\n")
        args = ["--settings", "mysite.settings_debug"]
    server = servers(args, site)
    server.wait_log(WATCHING_RE, timeout=10)
    assert get(server.port, "/hello").body == ORIGINAL_HELLO.encode()
    first = child_pid(server)
    assert first != server.pid, "the process started serves itself: no supervisor"

    mark = server.mark()
    set_hello(site, "Hello, debug mode!")
    wait_body(server, "/hello", "Hello, debug mode!")
    line = wait_reloads(server, 1, since=mark)[0]
    assert line.group(2) == "demo/views.py", line.group(0)
    second = child_pid(server)
    assert second not in (first, server.pid), (first, second)
    poll_until(lambda: not pid_alive(first), 10, what=f"the old server {first} to exit")
    assert len(re.findall(WATCHING_RE, server.log())) == 1, server.log()


# ---------------------------------------------------------------------------
# --debug with a debugger: refused
# ---------------------------------------------------------------------------


def _assert_refused(proc, debug_port: int | None = None):
    err, out = proc.stderr, proc.stdout
    assert proc.returncode == 2, f"exit status {proc.returncode}, expected 2\n{err}"
    assert "hurricane: error: --debug cannot be combined with a debugger" in err, err
    assert "Starting HTTP server" not in err, err
    assert not any(word in err + out for word in PANIC_WORDS), err
    if debug_port is not None:
        assert port_refuses(debug_port), "a debugger listens"


@pytest.mark.launchers
@pytest.mark.parametrize(
    "flags,extra_env",
    [
        (["--debug", "--debugger"], {}),
        (["--debug", "--pycharm-host", "127.0.0.1", "--pycharm-port", "1"], {}),
        (["--debugger"], {"HURRICANE_DEBUG": "true"}),
    ],
    ids=["debugger", "pycharm", "env-debug"],
)
def test_debug_with_a_debugger_is_refused(mysite, flags, extra_env):
    env = base_env(**extra_env)
    debug_port = free_port()
    proc = run_hurricane(["serve", "--debugger-port", str(debug_port), *flags], mysite, env, timeout=30, listen=True)
    _assert_refused(proc, debug_port)
    assert "Python started" not in proc.stderr, proc.stderr  # refused before Python starts


def test_debug_from_the_settings_with_a_debugger_is_refused(mysite):
    """The check runs on the merged options: HURRICANE_DEBUG from the Django settings
    with --debugger on the command line."""
    debug_port = free_port()
    env = settings_env(HURRICANE_DEBUG=True)
    proc = run_hurricane(["serve", *OPTS_SETTINGS, "--debugger", "--debugger-port", str(debug_port)], mysite, env, timeout=60, listen=True)
    _assert_refused(proc, debug_port)


def test_help_describes_debug_and_max_buffer_size():
    proc = run_hurricane(["serve", "--help"], None, timeout=30)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    debug = text[text.index("--debug ") :]
    assert "--autoreload" in debug[:400] and "traceback" in debug[:400], debug[:400]
    assert "[env: HURRICANE_DEBUG=]" in text, text
    buffer = text[text.index("--max-buffer-size") :]
    assert "--max-body-size" in buffer[:300] and "[env: HURRICANE_MAX_BUFFER_SIZE=]" in buffer[:400], buffer[:400]


# ---------------------------------------------------------------------------
# --max-buffer-size: the smaller body limit applies
# ---------------------------------------------------------------------------

BUFFER = 1024


@pytest.mark.parametrize("source", ["flag", pytest.param("env", marks=pytest.mark.launchers), "setting"])
def test_max_buffer_size_below_max_body_size_limits_bodies(servers, mysite, source):
    args = [*OPTS_SETTINGS, "--max-body-size", str(BUFFER * 4)]
    settings = {}
    if source == "flag":
        args += ["--max-buffer-size", str(BUFFER)]
    elif source == "setting":
        settings["HURRICANE_MAX_BUFFER_SIZE"] = BUFFER
    env = settings_env(**settings)
    if source == "env":
        env["HURRICANE_MAX_BUFFER_SIZE"] = str(BUFFER)
    server = servers(args, mysite, env)

    at_limit = request(server.port, "POST", "/echo", body=b"x" * BUFFER)
    assert (at_limit.status, at_limit.body) == (200, b"x" * BUFFER), at_limit
    over = request(server.port, "POST", "/echo", body=b"x" * (BUFFER + 1))
    assert over.status == 413, over
    raw = build("POST", "/echo", headers={"Transfer-Encoding": "chunked"}, close=True) + chunked(*[b"y" * 300] * 4)
    assert exchange(server.port, raw).status == 413  # 1200 bytes, below --max-body-size


def test_max_body_size_below_max_buffer_size_still_applies(servers, mysite):
    server = servers(["--max-body-size", str(BUFFER), "--max-buffer-size", str(BUFFER * 4)], mysite)
    assert request(server.port, "POST", "/echo", body=b"x" * BUFFER).status == 200
    assert request(server.port, "POST", "/echo", body=b"x" * (BUFFER + 1)).status == 413


# ---------------------------------------------------------------------------
# Unprefixed settings: one warning
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_an_unprefixed_setting_gets_one_warning_naming_its_new_name(servers, mysite):
    # PORT = 1 would fail to bind if it were read; DEBUG is Django's own.
    server = servers(OPTS_SETTINGS, mysite, settings_env(PORT=1, DEBUG=True))
    assert request(server.port, "GET", "/hello").status == 200
    warnings = [line for line in server.log().splitlines() if UNPREFIXED_WARNING in line]
    assert len(warnings) == 1, server.log()
    assert "WARN" in warnings[0], warnings[0]
    assert "settings.PORT is not read by hurricane" in warnings[0], warnings[0]
    assert "rename settings.PORT to HURRICANE_PORT" in warnings[0], warnings[0]
    assert "DEBUG" not in warnings[0], warnings[0]


def test_no_warning_for_debug_or_a_setting_that_has_its_hurricane_name(servers, mysite):
    # HURRICANE_PORT is overridden by --port; PORT is kept for django-hurricane.
    server = servers(OPTS_SETTINGS, mysite, settings_env(PORT=1, HURRICANE_PORT=free_port(), DEBUG=True))
    assert request(server.port, "GET", "/hello").status == 200
    assert UNPREFIXED_WARNING not in server.log(), server.log()
