"""Developer mode: `hurricane serve --autoreload` and the debuggers.

With `--autoreload` the `hurricane` process started here is a supervisor that owns the
app and probe sockets and runs the server in a child process; a saved file starts a
fresh child, which takes over from the old one. What is checked: an edited view is
served, ten reloads under a client loop lose no request, a broken save keeps the old
code serving and a repaired one recovers, a broken first start answers 503 with the
error, ignored files (and `--reload-exclude`) restart nothing while templates, locale
files and `--reload-include` patterns do, `--static-watch` runs collectstatic only for
static changes, several files saved at once reload once, the probes answer across
reloads, SIGTERM/SIGINT stop the supervisor and its child, `HURRICANE_AUTORELOAD`.
Then `--debugger` (a Debug Adapter Protocol client attaches as VS Code does; without
debugpy a warning), `--pycharm-host` with nothing listening, and `--autoreload` with a
debugger refused (exit status 2).

Every test works in its own copy of the example project (tests/support/projects.py
adds a /pid view to it) since the tests edit its files.
"""

from __future__ import annotations

import re
import shutil
import signal
import time

import pytest

from support.client import ConnectionClosed, port_refuses
from support.env import PANIC_WORDS, STARTUP_TIMEOUT, base_env, free_port, requires
from support.poll import poll_until
from support.projects import ORIGINAL_HELLO, make_site, set_hello, views_source
from support.reload import (
    COLLECTSTATIC_RE,
    RELOAD_BOUND,
    RELOAD_FAILED_RE,
    WATCHING_RE,
    ClientLoop,
    Dap,
    child_pid,
    get,
    pid_alive,
    reloaded_lines,
    wait_body,
    wait_reloads,
)
from support.server import Server, run_hurricane, stop_all_and_reap

pytestmark = requires("reload")

AUTORELOAD = ["--autoreload"]
STARTUP_DONE_RE = r"Startup time is \d"  # a child's last start-up line


@pytest.fixture
def site(mysite, tmp_path):
    """This test's own copy of the example project (migrated, with /pid)."""
    return make_site(mysite, tmp_path / "site")


def _child_serves(server: Server, timeout: float) -> bool:
    """A supervisor is ready once /hello answers 200 (a child serves) and the watcher
    is set up (True); False if it exited first."""

    def state():
        if not server.alive():
            return "exited"
        return "ready" if get(server.port, "/hello", timeout=5).status == 200 else None

    if poll_until(
        state,
        timeout,
        interval=0.1,
        what=f"{server.name}: /hello to answer 200",
        ignore=(OSError, ConnectionClosed),
        context=lambda: f"command: {server.command(server.port)}\n{server.log()}",
    ) == "exited":
        return False
    server.wait_log(WATCHING_RE, timeout=10)
    return True


@pytest.fixture
def serve(logdir, request):
    """Factory: serve(args, cwd, env=None, wait=True) -> Server.

    A server with --autoreload (in args, or HURRICANE_AUTORELOAD in env) is ready once a
    child answers /hello; any other once it logs 'Starting HTTP server'. At the end of
    the test each one still running gets SIGTERM and must exit 0; whatever is left of
    its process group (a child, a debug adapter) is then killed."""
    servers: list[Server] = []
    base = re.sub(r"[^\w.-]+", "_", request.node.name)

    def _serve(args: list[str], cwd, env: dict[str, str] | None = None, wait: bool = True) -> Server:
        server = Server(f"reload-{base}-{len(servers)}", args, cwd, logdir, env)
        servers.append(server)
        if not wait:
            return server.launch()
        supervised = any(a in ("--autoreload", "--reload") for a in args) or (env or {}).get("HURRICANE_AUTORELOAD")
        return server.start(ready=_child_serves) if supervised else server.start()

    yield _serve
    stop_all_and_reap(servers)


# ---------------------------------------------------------------------------
# Reloading
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_edit_a_view_serves_the_new_code(serve, site):
    server = serve(AUTORELOAD, site)
    assert int(re.search(WATCHING_RE, server.log()).group(1)) >= 1, server.log()
    assert get(server.port, "/hello").body == ORIGINAL_HELLO.encode()
    first = child_pid(server)
    assert first != server.pid, "the supervisor itself serves requests: no child process"

    mark = server.mark()
    set_hello(site, "Hello, reloaded!")
    start = time.monotonic()
    wait_body(server, "/hello", "Hello, reloaded!")
    took = time.monotonic() - start
    line = wait_reloads(server, 1, since=mark)[0]
    assert line.group(2) == "demo/views.py" and line.group(3) is None, line.group(0)
    assert 0 < float(line.group(1)) < RELOAD_BOUND, line.group(0)
    print(f"new code served {took:.2f}s after the save; logged: {line.group(0)}")

    second = child_pid(server)
    assert second not in (first, server.pid), (first, second)
    poll_until(lambda: not pid_alive(first), 10, what=f"the old child {first} to exit")
    assert server.alive()


def test_ten_reloads_without_a_failed_request(serve, site):
    server = serve(AUTORELOAD, site)
    mark = server.mark()
    versions = [f"Hello, version {i}!" for i in range(1, 11)]
    with ClientLoop(server.port, "/hello") as loop:
        poll_until(lambda: loop.ok, 10, what="the client loop's first response")
        for version in versions:
            set_hello(site, version)
            poll_until(lambda: version.encode() in loop.bodies, RELOAD_BOUND, what=f"{version!r} served\n{server.tail(30)}")
        served = len(loop.ok)
        poll_until(lambda: len(loop.ok) > served + 5, 10, what="requests after the last reload")
    total = len(loop.ok) + len(loop.failures)
    assert not loop.failures, f"{len(loop.failures)} of {total} requests failed across ten reloads: {loop.failures[:10]}\n{server.tail(40)}"
    missing = [v for v in versions if v.encode() not in loop.bodies]
    assert not missing, f"never served: {missing}"
    assert loop.bodies <= {v.encode() for v in [ORIGINAL_HELLO, *versions]}, loop.bodies
    print(f"{total} requests, none failed, across {len(versions)} reloads")

    lines = wait_reloads(server, 10, since=mark)
    time.sleep(0.5)
    lines = reloaded_lines(server.log_since(mark))
    assert len(lines) == 10, [m.group(0) for m in lines]
    assert all(m.group(2) == "demo/views.py" for m in lines), [m.group(0) for m in lines]
    assert "Reload failed" not in server.log_since(mark), server.log_since(mark)


def test_same_length_edits_in_quick_succession_are_all_served(serve, site):
    """Each text has the size of the one before, and the next save comes as soon as the
    last one is served, often within the same second: CPython's own check of cached
    bytecode (whole-second mtime and size) cannot tell these saves apart."""
    env = base_env()
    del env["PYTHONDONTWRITEBYTECODE"]  # bytecode is written, as on a developer's machine
    server = serve(AUTORELOAD, site, env)
    versions = [f"Hello v{i:02d}" for i in range(30)]
    misses = []
    with ClientLoop(server.port, "/hello") as loop:
        poll_until(lambda: loop.ok, 10, what="the client loop's first response")
        for version in versions:
            set_hello(site, version)
            try:
                wait_body(server, "/hello", version)
            except AssertionError:
                misses.append(version)
                break
        served = len(loop.ok)
        poll_until(lambda: len(loop.ok) > served + 5, 10, what="requests after the last reload")
    assert not misses, f"a reload logged but never served {misses[0]!r}; served instead: {get(server.port, '/hello').body!r}\n{server.tail(30)}"
    total = len(loop.ok) + len(loop.failures)
    assert not loop.failures, f"{len(loop.failures)} of {total} requests failed: {loop.failures[:10]}\n{server.tail(40)}"
    assert (site / "demo" / "__pycache__").is_dir(), "no bytecode was written: the test did not test the cache"


def test_saves_while_a_server_starts_reload_once_more_after_it(serve, site):
    """Views that take a while to import: two more saves while the new server imports
    them are not lost, and make one more reload, with the last text, once that start
    is over."""
    slow = '\n\nimport sys\nimport time\n\nprint("views: importing", file=sys.stderr)\ntime.sleep(1.5)\n'
    server = serve(AUTORELOAD, site)
    mark = server.mark()
    set_hello(site, "Hello, first save!", extra=slow)
    server.wait_log(r"views: importing", since=mark, timeout=RELOAD_BOUND)
    set_hello(site, "Hello, second save!", extra=slow)
    time.sleep(0.2)
    set_hello(site, "Hello, third save!", extra=slow)
    wait_body(server, "/hello", "Hello, third save!", timeout=2 * RELOAD_BOUND)
    lines = wait_reloads(server, 2, since=mark)
    assert len(lines) == 2, [m.group(0) for m in lines]
    assert "Reload failed" not in server.log_since(mark), server.log_since(mark)


def test_log_lines_of_a_reload_come_in_the_order_they_happened(serve, site):
    server = serve(AUTORELOAD, site)
    mark = server.mark()
    set_hello(site, "Hello, in order!")
    wait_body(server, "/hello", "Hello, in order!")
    wait_reloads(server, 1, since=mark)
    log = server.log_since(mark)
    started = [m.start() for m in re.finditer(r"Starting HTTP server on port", log)]
    reloaded = reloaded_lines(log)[0].start()
    assert started and started[0] < reloaded, f"'Reloaded in' logged before the new server's 'Starting HTTP server':\n{log}"

    mark = server.mark()
    assert server.stop(signal.SIGTERM) == 0, server.tail()
    stopped = re.findall(r"(\w+) server stopped accepting connections on port (\d+)", server.log_since(mark))
    assert sorted(stopped) == sorted([("application", str(server.port)), ("probe", str(server.probe_port))]), server.log_since(mark)


def test_reload_is_an_alias_of_autoreload(serve, site):
    server = serve(["--reload"], site)
    assert child_pid(server) != server.pid, "no supervisor: --reload was not taken for --autoreload"
    mark = server.mark()
    set_hello(site, "Hello, --reload!")
    wait_body(server, "/hello", "Hello, --reload!")
    assert wait_reloads(server, 1, since=mark)[0].group(2) == "demo/views.py"


def test_broken_save_keeps_the_old_code_then_recovers(serve, site):
    server = serve(AUTORELOAD, site)
    old = child_pid(server)
    mark = server.mark()
    set_hello(site, "Hello, broken!", extra="\n\ndef broken(:\n    pass\n")
    server.wait_log(RELOAD_FAILED_RE.format(path=re.escape("demo/views.py")), since=mark, timeout=RELOAD_BOUND)
    # the child's traceback and its one-line error, on the same stderr
    line = (site / "demo" / "views.py").read_text().splitlines().index("def broken(:") + 1
    server.wait_log(rf"(?m)^hurricane: error: SyntaxError: invalid syntax \(demo/views\.py, line {line}\)$", since=mark)
    log = server.log_since(mark)
    assert "Traceback (most recent call last):" in log, log
    assert re.search(rf'File "{re.escape(str(site))}/demo/views\.py", line {line}\n    def broken\(:', log), log
    for _ in range(3):
        resp = get(server.port, "/hello")
        assert (resp.status, resp.body) == (200, ORIGINAL_HELLO.encode()), resp
    assert child_pid(server) == old
    assert not reloaded_lines(server.log_since(mark)), server.log_since(mark)

    mark = server.mark()
    set_hello(site, "Hello, repaired!")
    wait_body(server, "/hello", "Hello, repaired!")
    assert wait_reloads(server, 1, since=mark)[0].group(2) == "demo/views.py"
    assert child_pid(server) != old


def test_broken_first_start_answers_503_until_fixed(serve, site):
    views = site / "demo" / "views.py"
    views.write_text("import hurricane_missing_module_xyz  # noqa\n" + views_source(site, ORIGINAL_HELLO))
    server = serve(AUTORELOAD, site, wait=False)

    def answer():
        assert server.alive(), f"the supervisor exited with {server.proc.returncode}\n{server.log()}"
        return get(server.port, "/hello", timeout=5)

    resp = poll_until(answer, STARTUP_TIMEOUT, until=lambda r: r.status == 503, interval=0.1, what="a 503", ignore=(OSError, ConnectionClosed), context=server.log)
    assert (resp.header("content-type") or "").startswith("text/plain"), resp
    assert b"hurricane_missing_module_xyz" in resp.body, resp
    server.wait_log(WATCHING_RE, timeout=10)
    server.wait_log(re.escape("ModuleNotFoundError: No module named 'hurricane_missing_module_xyz'"))
    assert not any(word in server.log() for word in PANIC_WORDS), server.log()
    # still 503 (not refused) on every new connection meanwhile
    for _ in range(3):
        assert get(server.port, "/hello").status == 503

    mark = server.mark()
    set_hello(site, "Hello, fixed!")
    wait_body(server, "/hello", "Hello, fixed!")
    assert wait_reloads(server, 1, since=mark)[0].group(2) == "demo/views.py"


def test_ignored_files_do_not_reload_watched_ones_do(serve, site):
    """Nothing under the default ignores (or --reload-exclude) restarts the child, even
    with Python writing .pyc files; templates, locale files and --reload-include
    patterns do."""
    for rel, content in {
        ".git/HEAD": "ref: refs/heads/main\n",
        "myenv/pyvenv.cfg": "home = /usr/bin\n",
        "demo/templates/demo/page.html": "<p>page</p>\n",
        "demo/locale/fr/LC_MESSAGES/django.po": 'msgid ""\nmsgstr ""\n',
    }.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(content)
    env = base_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the children write __pycache__/*.pyc
    args = [*AUTORELOAD, "--reload-include", "*.css", "--reload-exclude", "demo/scratch_*.py", "--reload-exclude", "*_generated.py"]
    server = serve(args, site, env)
    pid = child_pid(server)
    time.sleep(1.0)  # the first child's .pyc writes must not reload either
    assert not reloaded_lines(server.log()), server.log()

    mark = server.mark()
    ignored = {
        "demo/__pycache__/views.cpython-311.pyc": b"\x00not really bytecode",
        "demo/stale.pyc": b"\x00",
        ".git/index": b"index",
        ".git/hooks/post_checkout.py": b"print()\n",
        "node_modules/pkg/x.py": b"x = 1\n",
        "myenv/lib/python3.11/site-packages/mod.py": b"x = 1\n",
        ".venv/lib/mod.py": b"x = 1\n",
        "venv/lib/mod.py": b"x = 1\n",
        "db.sqlite3-journal": b"journal",
        "db.sqlite3-wal": b"wal",
        "demo/templates/demo/data.sqlite3": b"db",
        "demo/templates/demo/.page.html.swp": b"swap",
        "demo/templates/demo/page.html~": b"backup",
        "demo/templates/demo/.#page.html": b"lock",
        "demo/templates/demo/4913": b"",
        "demo/templates/demo/page.tmp": b"tmp",
        "demo/.views.py.swp": b"swap",
        "demo/views.py~": b"backup",
        "demo/.hidden.py": b"x = 1\n",
        "demo/scratch_1.py": b"x = 1\n",  # --reload-exclude demo/scratch_*.py
        "demo/models_generated.py": b"x = 1\n",  # --reload-exclude *_generated.py
        "notes.txt": b"not watched\n",
        "demo/data.json": b"{}\n",
    }
    for rel, content in ignored.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    time.sleep(2.0)
    new = server.log_since(mark)
    assert not reloaded_lines(new) and "Reload failed" not in new, f"an ignored file restarted the server:\n{new}"
    assert child_pid(server) == pid

    watched = [
        "demo/templates/demo/page.html",
        "demo/locale/fr/LC_MESSAGES/django.po",
        "demo/static/demo/site.css",  # --reload-include *.css
    ]
    for count, rel in enumerate(watched, start=1):
        with open(site / rel, "a") as f:
            f.write("\n/* changed */\n" if rel.endswith(".css") else "\n")
        lines = wait_reloads(server, count, since=mark)
        assert lines[count - 1].group(2) == rel, [m.group(0) for m in lines]
        new_pid = poll_until(lambda: (p := child_pid(server)) != pid and p, RELOAD_BOUND, what=f"a new child after {rel} changed")
        pid = new_pid
    time.sleep(1.0)  # a reload loop (say, on the new child's .pyc files) would show here
    lines = reloaded_lines(server.log_since(mark))
    assert [m.group(2) for m in lines] == watched, [m.group(0) for m in lines]


def test_media_root_is_not_watched(serve, site):
    """Uploads land in MEDIA_ROOT (here inside the project): even a .py one reloads nothing."""
    with open(site / "mysite" / "settings.py", "a") as f:
        f.write('\nMEDIA_ROOT = BASE_DIR / "uploads"\n')
    (site / "uploads").mkdir()
    server = serve(AUTORELOAD, site)
    pid = child_pid(server)
    mark = server.mark()
    (site / "uploads" / "user_1").mkdir()
    (site / "uploads" / "user_1" / "script.py").write_text("print('uploaded')\n")
    (site / "uploads" / "user_1" / "templates").mkdir()
    (site / "uploads" / "user_1" / "templates" / "page.html").write_text("<p>uploaded</p>\n")
    time.sleep(2.0)
    new = server.log_since(mark)
    assert not reloaded_lines(new) and "Reload failed" not in new, f"a file in MEDIA_ROOT restarted the server:\n{new}"
    assert child_pid(server) == pid


def test_one_reload_for_files_saved_together(serve, site):
    server = serve(AUTORELOAD, site)
    mark = server.mark()
    for i in range(4):
        (site / "demo" / f"extra_{i}.py").write_text(f"VALUE = {i}\n")
    set_hello(site, "Hello, batch!")
    wait_body(server, "/hello", "Hello, batch!")
    wait_reloads(server, 1, since=mark)
    time.sleep(1.0)
    lines = reloaded_lines(server.log_since(mark))
    assert len(lines) == 1, [m.group(0) for m in lines]
    changed = {"demo/views.py", *(f"demo/extra_{i}.py" for i in range(4))}
    assert lines[0].group(2) in changed and lines[0].group(3) == "4", lines[0].group(0)


def test_static_watch_runs_collectstatic_only_after_static_changes(serve, site):
    static_src = site / "demo" / "static"
    static_root = site / "staticfiles"
    shutil.copytree(static_src, static_root)  # as a previous collectstatic left it
    server = serve([*AUTORELOAD, "--static", "--static-watch", str(static_src)], site)
    assert get(server.port, "/static/demo/site.css").status == 200
    assert get(server.port, "/static/demo/new.css").status == 404
    assert not COLLECTSTATIC_RE.search(server.log()), "collectstatic ran without a static change:\n" + server.log()

    mark = server.mark()
    css = ".new { color: red }\n"
    (static_src / "demo" / "new.css").write_text(css)
    wait_body(server, "/static/demo/new.css", css)
    assert (static_root / "demo" / "new.css").read_text() == css
    line = wait_reloads(server, 1, since=mark)[0]
    assert line.group(2).endswith("new.css"), line.group(0)
    # The children's lines reach the log a little after the supervisor's: wait for the
    # new child's whole start-up (its command, then its "Startup time") before counting.
    command = server.wait_log(COLLECTSTATIC_RE.pattern, since=mark)
    server.wait_log(STARTUP_DONE_RE, since=mark + command.end())
    assert len(COLLECTSTATIC_RE.findall(server.log_since(mark))) == 1, server.log_since(mark)

    mark = server.mark()
    set_hello(site, "Hello, no collectstatic!")
    wait_body(server, "/hello", "Hello, no collectstatic!")
    wait_reloads(server, 1, since=mark)
    server.wait_log(STARTUP_DONE_RE, since=mark)
    assert not COLLECTSTATIC_RE.search(server.log_since(mark)), "collectstatic ran after a .py change:\n" + server.log_since(mark)
    assert get(server.port, "/static/demo/new.css").body == css.encode()


def test_probes_answer_across_reloads(serve, site):
    server = serve(AUTORELOAD, site)
    with ClientLoop(server.probe_port, "/alive") as loop:
        poll_until(lambda: loop.ok, 10, what="the first /alive answer")
        for text in ("Hello, one!", "Hello, two!"):
            mark = server.mark()
            set_hello(site, text)
            wait_body(server, "/hello", text)
            wait_reloads(server, 1, since=mark)
        answered = len(loop.ok)
        poll_until(lambda: len(loop.ok) > answered + 5, 10, what="/alive answers after the reloads")
    assert not loop.failures, f"{len(loop.failures)} of {len(loop.ok) + len(loop.failures)} /alive requests failed: {loop.failures[:10]}"


@pytest.mark.launchers
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_supervisor_and_its_child(serve, site, sig):
    server = serve(AUTORELOAD, site)
    first = child_pid(server)
    set_hello(site, "Hello, second child!")
    wait_body(server, "/hello", "Hello, second child!")
    child = child_pid(server)
    assert child != first
    poll_until(lambda: not pid_alive(first), 10, what=f"the old child {first} to exit")

    assert server.stop(sig) == 0, server.tail()
    poll_until(lambda: not pid_alive(child), 10, what=f"the child {child} to exit with the supervisor")
    assert port_refuses(server.port), "something still listens on the app port"
    assert port_refuses(server.probe_port), "something still listens on the probe port"
    assert not any(word in server.log() for word in PANIC_WORDS), server.log()


def test_autoreload_from_the_environment(serve, site):
    env = base_env()
    env["HURRICANE_AUTORELOAD"] = "1"
    server = serve([], site, env)
    assert child_pid(server) != server.pid
    mark = server.mark()
    set_hello(site, "Hello, from the environment!")
    wait_body(server, "/hello", "Hello, from the environment!")
    assert wait_reloads(server, 1, since=mark)[0].group(2) == "demo/views.py"


def test_autoreload_django_setting_is_ignored_with_a_warning(serve, site):
    (site / "mysite" / "settings_autoreload.py").write_text("from .settings import *  # noqa\n\nHURRICANE_AUTORELOAD = True\n")
    server = serve(["--settings", "mysite.settings_autoreload"], site)
    server.wait_log(r"WARN.*HURRICANE_AUTORELOAD", timeout=10)
    assert child_pid(server) == server.pid, "a supervisor started: the setting was not ignored"
    assert not re.search(WATCHING_RE, server.log()), server.log()


# ---------------------------------------------------------------------------
# Debuggers
# ---------------------------------------------------------------------------


def test_debugger_accepts_a_debug_adapter_client(serve, site):
    """VS Code's "attach" sequence: initialize, attach, configurationDone, threads."""
    pytest.importorskip("debugpy", reason="debugpy is not installed in this interpreter (requirements/test.txt pins it)")
    port = free_port()
    server = serve(["--debugger", "--debugger-port", str(port)], site)
    server.wait_log(rf"Listening for debug clients at port {port}\b", timeout=15)

    dap = Dap(port)
    try:
        init = dap.send("initialize", clientID="hurricane-tests", adapterID="debugpy", pathFormat="path", linesStartAt1=True, columnsStartAt1=True)
        assert dap.response(init)["success"], dap.messages
        attach = dap.send("attach", justMyCode=True)
        dap.event("initialized")
        done = dap.send("configurationDone")
        assert dap.response(done)["success"], dap.messages
        assert dap.response(attach)["success"], dap.messages
        process = dap.event("process")
        assert process["body"]["systemProcessId"] == server.pid, process
        threads = dap.response(dap.send("threads"))
        assert threads["success"] and threads["body"]["threads"], threads

        resp = get(server.port, "/hello")  # serving while a debugger is attached
        assert (resp.status, resp.body) == (200, ORIGINAL_HELLO.encode()), resp
        assert dap.response(dap.send("disconnect"))["success"], dap.messages
    finally:
        dap.close()
    resp = get(server.port, "/hello")
    assert (resp.status, resp.body) == (200, ORIGINAL_HELLO.encode()), resp


def test_debugger_without_debugpy_warns_and_serves(serve, site, tmp_path):
    # A module that fails to import exactly as a missing one does, ahead of the venv.
    hide = tmp_path / "no-debugpy"
    hide.mkdir()
    (hide / "debugpy.py").write_text("raise ModuleNotFoundError(\"No module named 'debugpy'\", name=\"debugpy\")\n")
    port = free_port()
    server = serve(["--debugger", "--debugger-port", str(port), "--pythonpath", str(hide)], site)
    server.wait_log(r"WARN.*debugpy is not installed", timeout=15)
    resp = get(server.port, "/hello")
    assert (resp.status, resp.body) == (200, ORIGINAL_HELLO.encode()), resp
    assert "Listening for debug clients" not in server.log()
    assert port_refuses(port)


def test_unreachable_pycharm_warns_and_serves(serve, site):
    closed = free_port()  # nothing listens there
    server = serve(["--pycharm-host", "127.0.0.1", "--pycharm-port", str(closed)], site)
    server.wait_log(r"WARN.*(Could not connect to debug server|pydevd-pycharm is not installed)", timeout=30)
    resp = get(server.port, "/hello")
    assert (resp.status, resp.body) == (200, ORIGINAL_HELLO.encode()), resp


def test_a_debugger_in_the_django_settings_is_refused_under_autoreload(serve, site):
    """The supervisor never reads the Django settings; the server it starts does, and
    refuses the debugger there instead of starting one in every replacement."""
    debug_port = free_port()
    settings = site / "mysite" / "settings_debugger.py"
    settings.write_text(f"from .settings import *  # noqa\n\nHURRICANE_DEBUGGER = True\nHURRICANE_DEBUGGER_PORT = {debug_port}\n")
    server = serve(["--autoreload", "--settings", "mysite.settings_debugger"], site, wait=False)

    resp = poll_until(
        lambda: get(server.port, "/hello", timeout=5),
        STARTUP_TIMEOUT,
        until=lambda resp: resp.status != 200 or pytest.fail(f"served with a debugger from the settings:\n{server.log()}"),
        ignore=(OSError, ConnectionClosed),
        what="an answer from the supervisor",
        context=server.tail,
    )
    assert resp.status == 503, resp
    assert b"--autoreload cannot be combined with a debugger" in resp.body, resp
    assert "hurricane: error: --autoreload cannot be combined with a debugger" in server.log(), server.log()
    assert port_refuses(debug_port), "a debugger listens"


@pytest.mark.parametrize(
    "flags,extra_env",
    [
        (["--autoreload", "--debugger"], {}),
        (["--autoreload", "--pycharm-host", "127.0.0.1", "--pycharm-port", "1"], {}),
        (["--debugger"], {"HURRICANE_AUTORELOAD": "1"}),
    ],
    ids=["debugger", "pycharm", "env-autoreload"],
)
def test_autoreload_with_a_debugger_is_refused(site, flags, extra_env):
    env = base_env()
    env.update(extra_env)
    proc = run_hurricane(["serve", *flags], site, env, timeout=30, listen=True)
    err, out = proc.stderr, proc.stdout
    assert proc.returncode == 2, f"exit status {proc.returncode}, expected 2\n{err}"
    assert "--autoreload" in err and "debugger" in err, err
    assert "Python started" not in err and "Starting HTTP server" not in err, err
    assert not any(word in err + out for word in PANIC_WORDS), err
