"""hurricane's Python package (`pip install hurricane-server`) in a project that was
written for django-hurricane: `python manage.py serve` serves it with no change to its
files, and the `hurricane` logger's level in Django's LOGGING is hurricane's log level.

They run with HURRICANE_LAUNCHER=manage.py and the package installed in HURRICANE_VENV,
as `cargo xtask ci` runs them (in fresh venvs of the oldest and newest CPython).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.client import request
from support.env import APPS, LAUNCHER, VENV_PYTHON, base_env
from support.poll import poll_until
from support.probes import wait_probe

pytestmark = [
    pytest.mark.launchers,
    pytest.mark.skipif(LAUNCHER != "manage.py", reason="needs `python manage.py serve`: run with HURRICANE_LAUNCHER=manage.py and the package installed"),
]

PROJECT = APPS / "django_hurricane_project"
CSS = (PROJECT / "notes" / "static" / "notes" / "app.css").read_bytes()


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project (its database and collected files stay out of the tree)."""
    dest = tmp_path / "project"
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", "staticfiles"))
    return dest


def manage(project: Path, *args: str):
    """`python manage.py ARGS`, as a release's migration job runs it."""
    proc = subprocess.run([str(VENV_PYTHON), "manage.py", *args], cwd=project, env=base_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


def test_a_django_hurricane_project_is_served_unchanged(one_server, project, tmp_path):
    manage(project, "migrate", "--noinput")
    broken = tmp_path / "broken"
    env = base_env(HURRICANE_COMMAND="collectstatic --noinput", NOTES_BROKEN_FLAG=broken)
    server = one_server("django-hurricane-project", ["--static", "--check-migrations"], project, env, start=False)
    server.port_env = "HURRICANE_PORT"  # the port only from the environment, as its deployment sets it
    server.start()

    added = request(server.port, "POST", "/notes/", body=b"first note")
    assert (added.status, json.loads(added.body)) == (200, {"notes": ["first note"]}), added
    # Collected by HURRICANE_COMMAND at start-up, served by --static (DEBUG is off:
    # Django itself would answer 404).
    css = request(server.port, "GET", "/static/notes/app.css")
    assert (css.status, css.body) == (200, CSS), css

    assert server.probe("/alive").status == 200
    broken.write_text("")  # the project's liveness-tagged check now fails
    wait_probe(server, "/alive", 500, b"check error")
    broken.unlink()
    wait_probe(server, "/alive", 200)
    assert "collectstatic" in server.log()
    assert server.stop() == 0, server.tail()


@pytest.mark.parametrize(
    "log_level,args,info_logged",
    [("WARNING", [], False), ("INFO", [], True), ("WARNING", ["--log-level", "info"], True)],
    ids=["LOGGING-warning-hides-info", "LOGGING-info", "command-line-wins"],
)
def test_the_hurricane_logger_level_in_logging_is_the_log_level(one_server, project, log_level, args, info_logged):
    manage(project, "migrate", "--noinput")
    # The project's LOGGING takes the hurricane logger's level from HURRICANE_LOG_LEVEL,
    # as django-hurricane's documentation shows.
    settings = project / "config" / "settings.py"
    settings.write_text(settings.read_text().replace('os.getenv("HURRICANE_LOG_LEVEL", "INFO")', json.dumps(log_level)))
    server = one_server("logging-level", args, project, base_env(), start=False)
    server.launch()
    # Without INFO lines there is no "Starting HTTP server" to wait for: the startup
    # probe says when it serves.
    poll_until(lambda: server.probe("/startup", timeout=2).status == 200, 30, ignore=(OSError,), what="the startup probe to pass")
    assert request(server.port, "GET", "/notes/").status == 200
    assert server.stop() == 0, server.tail()
    log = server.log()
    assert ("Starting HTTP server" in log) == info_logged, log
    assert ("200 GET /notes/" in log) == info_logged, log



def test_a_stock_project_serves_admin_login_and_probes_without_rust(one_server, tmp_path):
    """`django-admin startproject`, "hurricane" added to INSTALLED_APPS, `python
    manage.py serve`: on a PATH with no Rust toolchain, the wheel is all it takes."""
    startproject = subprocess.run(
        [str(VENV_PYTHON), "-m", "django", "startproject", "stock", str(tmp_path)], env=base_env(), capture_output=True, text=True, timeout=60
    )
    assert startproject.returncode == 0, startproject.stderr
    settings = tmp_path / "stock" / "settings.py"
    text = settings.read_text()
    assert "'django.contrib.staticfiles',\n" in text, text
    settings.write_text(text.replace("'django.contrib.staticfiles',\n", "'django.contrib.staticfiles',\n    'hurricane',\n"))
    manage(tmp_path, "migrate", "--noinput")
    env = base_env()
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not Path(p, "cargo").exists())
    assert shutil.which("cargo", path=env["PATH"]) is None, env["PATH"]
    server = one_server("stock-project", [], tmp_path, env)
    login = request(server.port, "GET", "/admin/login/")
    assert login.status == 200 and b"csrfmiddlewaretoken" in login.body, login
    assert [server.probe(path).status for path in ("/startup", "/alive", "/ready")] == [200, 200, 200]
    assert server.stop() == 0, server.tail()
