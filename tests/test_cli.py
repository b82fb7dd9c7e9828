"""`hurricane serve` as a user runs it: settings resolution, Python discovery,
--pythonpath, --app, system checks, and clean failures at startup.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from support.client import request
from support.env import APPS, PANIC_WORDS, base_env
from support.server import run_hurricane

PYTHONPATH = ["--pythonpath", str(APPS)]


def run_failing(args, cwd, env=None, timeout=60):
    """Run `hurricane serve ...` that is expected to fail; return (rc, stderr text)."""
    rc, err, out = run_hurricane(["serve", *args], cwd, env, timeout=timeout, listen=True)
    assert rc != 0, f"exit code 0 for a failing start; stderr:\n{err}"
    for word in PANIC_WORDS:
        assert word not in err + out, f"{word!r} in the output of a startup failure:\n{err + out}"
    assert "Starting HTTP server" not in err
    return rc, err


# ---------------------------------------------------------------------------
# Settings: --settings, else DJANGO_SETTINGS_MODULE, else manage.py
# ---------------------------------------------------------------------------


def marker(server):
    resp = request(server.port, "GET", "/hello")
    assert resp.status == 200, resp
    return resp.header("x-settings-marker")


def test_settings_flag_beats_environment(one_server, mysite):
    env = base_env()
    env["DJANGO_SETTINGS_MODULE"] = "testsettings.env"
    server = one_server("settings-flag", ["--settings", "testsettings.flag", *PYTHONPATH], mysite, env)
    assert marker(server) == "flag"
    assert server.stop() == 0


def test_settings_from_environment(one_server, mysite):
    env = base_env()
    env["DJANGO_SETTINGS_MODULE"] = "testsettings.env"
    server = one_server("settings-env", PYTHONPATH, mysite, env)
    assert marker(server) == "env"
    assert server.stop() == 0


def test_settings_from_manage_py(one_server, mysite, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(mysite, project)
    manage = project / "manage.py"
    text = manage.read_text()
    assert '"DJANGO_SETTINGS_MODULE", "mysite.settings"' in text
    manage.write_text(text.replace('"mysite.settings"', '"testsettings.managepy"'))
    server = one_server("settings-managepy", PYTHONPATH, project)
    assert marker(server) == "managepy"
    assert server.stop() == 0


@pytest.mark.launchers
def test_default_project_uses_manage_py_and_cwd(django_server):
    # examples/mysite: no flag, no env; mysite.settings found through manage.py and cwd
    resp = request(django_server.port, "GET", "/hello")
    assert resp.status == 200 and resp.header("x-settings-marker") is None


def test_pythonpath_is_needed_for_modules_outside_the_project(mysite):
    rc, err = run_failing(["--settings", "testsettings.flag"], mysite)
    assert "testsettings" in err


# ---------------------------------------------------------------------------
# Where Python packages come from
# ---------------------------------------------------------------------------


def test_packages_from_virtual_env_without_path(one_server, mysite):
    env = base_env(venv=True, path_venv=False)
    server = one_server("venv-only", [], mysite, env)
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


def test_packages_from_python3_on_path(one_server, mysite):
    env = base_env(venv=False, path_venv=True)
    server = one_server("path-only", [], mysite, env)
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


def test_no_django_installed_is_a_clear_error(mysite):
    env = base_env(venv=False, path_venv=False)
    probe = subprocess.run(["python3", "-c", "import django"], env=env, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the python3 on PATH outside the venv has Django installed")
    rc, err = run_failing([], mysite, env)
    assert "django" in err.lower()


# ---------------------------------------------------------------------------
# --app: any WSGI callable
# ---------------------------------------------------------------------------


def test_app_flask(one_server):
    # cwd is on sys.path: flask_app is found without --pythonpath; no Django settings needed
    server = one_server("flask", ["--app", "flask_app:app"], APPS)
    resp = request(server.port, "GET", "/")
    assert (resp.status, resp.body) == (200, b"Hello from Flask")
    info = request(server.port, "GET", "/info?x=1").json()
    assert info == {"path": "/info", "script_root": "", "args": {"x": "1"}, "remote_addr": "127.0.0.1"}
    echo = request(server.port, "POST", "/echo", body=b"flask body")
    assert echo.body == b"flask body"
    assert request(server.port, "GET", "/missing").status == 404
    assert server.stop() == 0


def test_app_flask_with_root_path(one_server):
    server = one_server("flask-root", ["--app", "flask_app:app", "--root-path", "/prefix"], APPS)
    info = request(server.port, "GET", "/prefix/info").json()
    assert info["script_root"] == "/prefix" and info["path"] == "/info"
    assert server.stop() == 0


def test_app_bare_wsgi_callable(one_server, tmp_path):
    server = one_server("bare", ["--app", "echo_app:application", *PYTHONPATH], tmp_path)
    resp = request(server.port, "POST", "/x?y=1", body=b"bare")
    assert resp.status == 200 and resp.json()["path_info"] == "/x"
    assert server.stop() == 0


def test_app_missing_module(tmp_path):
    rc, err = run_failing(["--app", "hurricane_no_such_module:app"], tmp_path)
    assert "hurricane: error: cannot import 'hurricane_no_such_module' for --app" in err, err
    assert "Traceback" not in err, err


def test_app_missing_attribute(tmp_path):
    rc, err = run_failing(["--app", "echo_app:no_such_callable", *PYTHONPATH], tmp_path)
    assert "no_such_callable" in err


def test_app_not_module_colon_callable(tmp_path):
    rc, err = run_failing(["--app", "echo_app"], tmp_path)
    assert "echo_app" in err


# ---------------------------------------------------------------------------
# Startup failures: one clear message, non-zero exit, no panic
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_system_check_errors_stop_startup(mysite):
    rc, err = run_failing(["--settings", "testsettings.checkfail", *PYTHONPATH], mysite)
    assert "caches.E001" in err  # Django's own report
    assert "You must define a 'default' cache in your CACHES setting." in err


def test_skip_checks(one_server, mysite):
    server = one_server("skip-checks", ["--settings", "testsettings.checkfail", "--skip-checks", *PYTHONPATH], mysite)
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


def test_missing_settings_module(mysite):
    rc, err = run_failing(["--settings", "hurricane_no_such_settings"], mysite)
    assert "hurricane: error: cannot import the settings module 'hurricane_no_such_settings'" in err, err
    assert "Check --settings or DJANGO_SETTINGS_MODULE" in err, err
    assert "Traceback" not in err, err  # the message says it all


def test_settings_given_as_a_path(mysite):
    rc, err = run_failing(["--settings", "mysite/settings.py"], mysite)
    assert "'mysite/settings.py' is not a Python module name" in err


def test_missing_settings_module_from_env(mysite):
    env = base_env()
    env["DJANGO_SETTINGS_MODULE"] = "hurricane_env_no_such_settings"
    rc, err = run_failing([], mysite, env)
    assert "hurricane_env_no_such_settings" in err


def test_no_settings_anywhere(tmp_path):
    # no --settings, no DJANGO_SETTINGS_MODULE, no manage.py
    rc, err = run_failing([], tmp_path)
    assert "settings" in err.lower() or "manage.py" in err


def test_import_error_in_settings(mysite):
    rc, err = run_failing(["--settings", "testsettings.importerror", *PYTHONPATH], mysite)
    # a --pythonpath entry is the project too: its file is named (absolute, outside the working directory)
    assert f"ModuleNotFoundError: No module named 'hurricane_test_no_such_module' ({APPS}/testsettings/importerror.py, line 4)" in err, err
    assert "cannot import the settings module" not in err, err


def test_import_error_in_installed_apps(mysite):
    rc, err = run_failing(["--settings", "testsettings.badapp", *PYTHONPATH], mysite)
    assert f"ModuleNotFoundError: No module named 'hurricane_test_missing_app' ({APPS}/testsettings/badapp.py, line 6)" in err, err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--no-such-flag"], "--no-such-flag"),
        (["--port", "not-a-port"], "port"),
        (["--workers", "many"], "workers"),
        (["--workers", "0"], "workers"),
        (["--concurrency", "sometimes"], "[possible values: adaptive, fixed]"),
        (["--max-body-size=lots"], "max-body-size"),
    ],
)
@pytest.mark.launchers
def test_bad_option(mysite, args, needle):
    proc = run_hurricane(["serve", *args], mysite, timeout=30)
    err = proc.stderr
    assert proc.returncode != 0
    assert needle in err
    assert not any(w in err for w in PANIC_WORDS)


def test_unknown_subcommand(mysite):
    proc = run_hurricane(["frobnicate"], mysite, timeout=30)
    assert proc.returncode != 0
    assert "frobnicate" in proc.stderr


def test_port_in_use(mysite):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = run_hurricane(["serve", "--host", "127.0.0.1", "--port", str(port)], mysite)
    err = proc.stderr
    assert proc.returncode != 0
    assert str(port) in err or "in use" in err.lower()
    assert not any(w in err for w in PANIC_WORDS)


def test_default_host_is_all_interfaces(one_server, mysite):
    server = one_server("default-host", [], mysite, start=False)
    server.host_args = []
    server.start()
    listening = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":  # LISTEN
            addr, port = local.split(":")
            listening.add((addr, int(port, 16)))
    assert ("00000000", server.port) in listening, f"not listening on 0.0.0.0:{server.port}"
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


def test_sigint_stops_an_idle_server(one_server, mysite):
    import signal

    server = one_server("sigint", [], mysite)
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop(signal.SIGINT) == 0


def test_version_lists_the_features_built_in():
    """`--version`: the version, then the cargo features (what scripts and this suite
    read to know what the binary can do); `-V` the version alone."""
    long = run_hurricane(["--version"], None)
    assert long.returncode == 0, long
    lines = long.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("hurricane "), long.stdout
    name, _, listed = lines[1].partition(":")
    assert name == "features", long.stdout
    assert set(listed.split()) <= {"probe", "processes", "reload", "static", "webhook"}, long.stdout
    assert listed.split() == sorted(listed.split()), long.stdout
    short = run_hurricane(["-V"], None)
    assert short.stdout.strip() == lines[0], short
