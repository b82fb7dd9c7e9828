"""Start-up orchestration: `--command` management commands, the
migration check, what the probes say meanwhile, failures (exit status 1),
SIGTERM during start-up, and the options refused with `--app`. Then broken projects
(a missing app, an import error or a syntax error in the settings, a broken --app
module): Python's traceback, then one line naming the project file and line.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.client import port_refuses, request
from support.env import APPS, PANIC_WORDS, VENV_PYTHON
from support.probes import (
    PROBE_SERVER_RE,
    PROBES_SETTINGS,
    PYTHONPATH,
    STARTUP_BODY_RE,
    parse_verbose,
    probes_env,
    sample_value,
    scrape,
)
from support.server import run_hurricane

PROBES = ["/startup", "/alive", "/ready"]


def command_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Running management command" in line]


def assert_clean_failure(rc: int, err: str, out: str = ""):
    assert rc == 1, f"exit status {rc}, expected 1\n{err}"
    for word in PANIC_WORDS:
        assert word not in err + out, f"{word!r} in the output:\n{err}"
    assert "Starting HTTP server" not in err, err


def test_commands_run_in_order_with_shell_quoting(one_server, mysite, tmp_path):
    out = tmp_path / "echo.jsonl"
    env = probes_env(PROBETEST_OUT=out, PROBETEST_DB=tmp_path / "fresh.sqlite3")
    args = [
        *PROBES_SETTINGS,
        "--command", "migrate --noinput",
        "--command", """echo_args first 'a b' "c d" e\\ f""",
        "--command", "echo_args second",
    ]  # fmt: skip
    server = one_server("startup-commands", args, mysite, env)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [["first", "a b", "c d", "e f"], ["second"]]
    # the fresh database was migrated before the app served
    resp = request(server.port, "GET", "/items")
    assert (resp.status, resp.json()) == (200, {"items": []}), resp

    log = server.log()
    lines = command_lines(log)
    assert len(lines) == 3, log
    assert "migrate --noinput" in lines[0] and "echo_args first" in lines[1] and "echo_args second" in lines[2], lines
    assert log.index(lines[2]) < log.index("Starting HTTP server"), log
    assert server.stop() == 0


def test_probes_while_a_command_runs(one_server, mysite):
    server = one_server("startup-probes", [*PROBES_SETTINGS, "--command", "sleep_for 2"], mysite, probes_env(), start=False)
    server.launch()
    m = server.wait_log(PROBE_SERVER_RE, timeout=30)
    assert int(m.group(1)) == server.probe_port
    server.wait_log(r"Running management command.*sleep_for 2", timeout=30)

    for path in PROBES:
        for method in ("GET", "POST"):
            resp = server.probe(path, method=method)
            assert (resp.status, resp.body) == (400, b""), (method, path, resp)
            assert resp.header("cache-control") == "no-store", resp
    verbose = server.probe("/startup?verbose")
    assert verbose.status == 400, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["startup"].startswith("failed: ") and summary == "startup check failed", verbose
    metrics = server.probe("/metrics")
    assert metrics.status == 200, metrics
    families = scrape(server)
    assert not families.get("hurricane_info") or not families["hurricane_info"].samples, families.get("hurricane_info")
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="startup") == 0
    assert port_refuses(server.port), "the app port accepts connections while a --command runs"
    assert "Starting HTTP server" not in server.log(), "the probes were not checked during start-up"

    assert server.wait_ready(30), server.tail()
    startup = server.probe("/startup")
    m = STARTUP_BODY_RE.fullmatch(startup.body)
    assert startup.status == 200 and m, startup
    assert float(m.group(1)) >= 1.9, f"start-up took the 2 s command, but the probe says {startup.body!r}"
    logged = re.search(r"Startup time is (\d+(?:\.\d+)?) seconds", server.log())
    assert logged and float(logged.group(1)) >= 1.9, server.tail()
    assert (server.probe("/alive").status, server.probe("/alive").body) == (200, b"alive")
    assert (server.probe("/ready").status, server.probe("/ready").body) == (200, b"")
    families = scrape(server)
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="startup") == 1
    assert sample_value(families, "hurricane_info", "hurricane_info") == 1
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


@pytest.mark.launchers
@pytest.mark.parametrize(
    "command,message",
    [("fail_always", "probetest failure requested"), ("fail_always --runtime", "probetest crash requested")],
    ids=["CommandError", "RuntimeError"],
)
def test_failing_command_exits_1(mysite, tmp_path, command, message):
    out = tmp_path / "after.jsonl"
    args = [*PROBES_SETTINGS, "--command", command, "--command", "echo_args after"]
    rc, err, stdout = run_hurricane(["serve", *args], mysite, probes_env(PROBETEST_OUT=out), listen=True)
    assert_clean_failure(rc, err, stdout)
    assert re.search(r"\bERROR\b", err), f"nothing logged at ERROR:\n{err}"
    assert re.search(rf"command\W+{command}\b", err), f"the failing command is not named:\n{err}"
    assert message in err, err
    assert not out.exists(), "a command after the failing one ran"


def test_unknown_command_exits_1(mysite):
    rc, err, out = run_hurricane(["serve", *PROBES_SETTINGS, "--command", "no_such_command_xyz --flag"], mysite, probes_env(), listen=True)
    assert_clean_failure(rc, err, out)
    assert "no_such_command_xyz" in err, err


def test_sigterm_during_a_long_command(one_server, mysite):
    server = one_server("startup-sigterm", [*PROBES_SETTINGS, "--command", "sleep_for 60"], mysite, probes_env(), start=False)
    server.launch()
    server.wait_log(r"Running management command.*sleep_for 60", timeout=30)
    time.sleep(0.3)
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 10 s after SIGTERM during start-up\n{server.tail()}")
    took = time.monotonic() - start
    assert server.proc.returncode == 0, server.tail()
    assert took < 3, f"exit took {took:.1f}s after SIGTERM during start-up"
    assert "start-up interrupted" in server.log(), server.tail()
    assert "Starting HTTP server" not in server.log()


def manage(mysite, db, *args):
    env = probes_env(PROBETEST_DB=db)
    env["DJANGO_SETTINGS_MODULE"] = "testsettings.probes"
    env["PYTHONPATH"] = str(APPS)
    proc = subprocess.run([str(VENV_PYTHON), "manage.py", *args], cwd=mysite, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"manage.py {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_check_migrations_waits_until_migrated(one_server, mysite, tmp_path):
    db = tmp_path / "fresh.sqlite3"
    server = one_server("startup-migrations", [*PROBES_SETTINGS, "--check-migrations"], mysite, probes_env(PROBETEST_DB=db), start=False)
    server.launch()
    server.wait_log(r"Migrations are pending", timeout=30)
    time.sleep(1.5)  # it keeps waiting
    assert server.alive(), server.tail()
    assert "Starting HTTP server" not in server.log()
    assert (server.probe("/startup").status, server.probe("/startup").body) == (400, b"")
    assert port_refuses(server.port)

    manage(mysite, db, "migrate", "--noinput")
    assert server.wait_ready(15), server.tail()
    assert server.probe("/startup").status == 200
    resp = request(server.port, "GET", "/items")
    assert (resp.status, resp.json()) == (200, {"items": []}), resp
    assert server.stop() == 0


@pytest.mark.launchers
def test_check_migrations_apply(one_server, mysite, tmp_path):
    db = tmp_path / "fresh.sqlite3"
    server = one_server("startup-migrate-apply", [*PROBES_SETTINGS, "--check-migrations-apply"], mysite, probes_env(PROBETEST_DB=db))
    created = request(server.port, "POST", "/items", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"name=applied")
    assert created.status == 201, created
    assert request(server.port, "GET", "/items").json() == {"items": [{"id": 1, "name": "applied"}]}
    assert "[ ]" not in manage(mysite, db, "showmigrations", "demo")
    assert server.stop() == 0


def test_failing_migration_exits_1(mysite, tmp_path):
    env = probes_env(PROBETEST_DB=tmp_path / "fresh.sqlite3", PROBETEST_BAD_MIGRATION="1")
    rc, err, out = run_hurricane(["serve", *PROBES_SETTINGS, "--check-migrations-apply"], mysite, env, listen=True)
    assert_clean_failure(rc, err, out)
    assert "probetest migration failed" in err, err
    assert re.search(r"ERROR", err), err


@pytest.mark.parametrize(
    "flag",
    [["--command", "migrate --noinput"], ["--check-migrations"], ["--check-migrations-apply"]],
    ids=["command", "check-migrations", "check-migrations-apply"],
)
def test_app_refuses_django_only_options(tmp_path, flag):
    rc, err, out = run_hurricane(["serve", "--app", "echo_app:application", *PYTHONPATH, *flag], tmp_path, listen=True)
    assert rc != 0, err
    assert flag[0] in err, err
    assert "--app" in err or "Django" in err, err
    assert "Starting HTTP server" not in err
    assert not any(w in err + out for w in PANIC_WORDS)


# ---------------------------------------------------------------------------
# A broken project: Python's traceback, then one line pointing into the project
# ---------------------------------------------------------------------------

TRACEBACK = "Traceback (most recent call last):"


def break_settings(mysite, tmp_path, text: str, after: str | None = None) -> tuple[Path, int]:
    """A copy of the example project with `text` inserted into mysite/settings.py after
    the line `after` (at the end without one). Returns the copy and the line number of
    `text`."""
    site = tmp_path / "site"
    shutil.copytree(mysite, site, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles"))
    settings = site / "mysite" / "settings.py"
    lines = settings.read_text().splitlines(keepends=True)
    at = len(lines) if after is None else [line.rstrip() for line in lines].index(after) + 1
    lines.insert(at, text + "\n")
    settings.write_text("".join(lines))
    return site, at + 1


def error_line(rc: int, err: str, out: str) -> str:
    """The failure's one `hurricane: error:` line, after Python's traceback."""
    assert_clean_failure(rc, err, out)
    summaries = [line for line in err.splitlines() if line.startswith("hurricane: error:")]
    assert len(summaries) == 1, f"expected one 'hurricane: error:' line:\n{err}"
    assert TRACEBACK in err, f"no Python traceback:\n{err}"
    assert err.index(TRACEBACK) < err.index(summaries[0]), err
    return summaries[0]


def test_missing_installed_app_names_the_settings_line(mysite, tmp_path):
    site, line = break_settings(mysite, tmp_path, '    "nosuchapp",', after='    "demo",')
    rc, err, out = run_hurricane(["serve"], site, listen=True)
    summary = error_line(rc, err, out)
    assert summary == f"hurricane: error: ModuleNotFoundError: No module named 'nosuchapp' (mysite/settings.py, line {line})", err
    # the traceback is Python's: Django's frames, ending in the exception
    assert re.search(r'File ".*/django/apps/config\.py", line \d+', err), err
    assert "\nModuleNotFoundError: No module named 'nosuchapp'\n" in err, err


@pytest.mark.parametrize(
    "statement,exception",
    [
        ("from .local_settings import *  # noqa", "ModuleNotFoundError: No module named 'mysite.local_settings'"),
        ("from os import no_such_name", "ImportError: cannot import name 'no_such_name' from 'os'"),
    ],
    ids=["missing-module", "missing-name"],
)
def test_import_error_inside_settings_is_reported_as_raised(mysite, tmp_path, statement, exception):
    site, line = break_settings(mysite, tmp_path, statement, after="from pathlib import Path")
    rc, err, out = run_hurricane(["serve"], site, listen=True)
    summary = error_line(rc, err, out)
    assert summary.startswith(f"hurricane: error: {exception}"), err
    assert summary.endswith(f"(mysite/settings.py, line {line})"), err
    assert "cannot import the settings module" not in err, err
    assert re.search(rf'File "{re.escape(str(site))}/mysite/settings\.py", line {line}, in <module>\n    {re.escape(statement)}', err), err


def test_syntax_error_in_settings_names_its_line_once(mysite, tmp_path):
    site, line = break_settings(mysite, tmp_path, 'CSRF_TRUSTED_ORIGINS = ["https://example.com"')
    rc, err, out = run_hurricane(["serve"], site, listen=True)
    summary = error_line(rc, err, out)
    assert summary == f"hurricane: error: SyntaxError: '[' was never closed (mysite/settings.py, line {line})", err
    assert re.search(rf'File "{re.escape(str(site))}/mysite/settings\.py", line {line}\n', err), err


def test_import_error_inside_an_app_module_is_reported_as_raised(tmp_path):
    (tmp_path / "brokenapp.py").write_text('"""A WSGI module that imports what is not installed."""\n\nimport hurricane_no_such_dependency  # noqa\n')
    rc, err, out = run_hurricane(["serve", "--app", "brokenapp:application"], tmp_path, listen=True)
    summary = error_line(rc, err, out)
    assert summary == "hurricane: error: ModuleNotFoundError: No module named 'hurricane_no_such_dependency' (brokenapp.py, line 3)", err
    assert "for --app" not in err, err
    assert re.search(r'File ".*/brokenapp\.py", line 3, in <module>', err), err
