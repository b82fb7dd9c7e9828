"""Where `hurricane serve` options come from: command line, then
environment `HURRICANE_<NAME>`, then Django settings `HURRICANE_<NAME>`, then
the default. Bad values are start-up errors that name the variable or setting.
"""

from __future__ import annotations

import json
import re

import pytest

from support.client import request
from support.env import PANIC_WORDS, base_env, free_port, requires
from support.probes import PYTHONPATH, probes_env
from support.server import run_hurricane

OPTS_SETTINGS = ["--settings", "testsettings.hurricane_opts", *PYTHONPATH]


def recorded(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_settings_are_used_when_no_flag_or_env(one_server, mysite, tmp_path):
    out = tmp_path / "out.jsonl"
    settings = {
        "HURRICANE_NO_METRICS": True,
        "HURRICANE_REQ_QUEUE_LEN": 0,
        "HURRICANE_LIVENESS_PROBE": "/veryalive",
        "HURRICANE_COMMAND": ["echo_args from-settings 1", "echo_args from-settings 2"],
        # needed before Django loads: never taken from the settings
        "HURRICANE_APP": "echo_app:application",
    }
    env = probes_env(PROBETEST_OUT=out, PROBETEST_SETTINGS=json.dumps(settings))
    server = one_server("config-settings", OPTS_SETTINGS, mysite, env, start=False)
    server.port_env = "PROBETEST_SETTINGS_PORT"  # HURRICANE_PORT = <port> in the settings, no --port
    server.start()
    hello = request(server.port, "GET", "/hello")
    assert (hello.status, hello.body) == (200, b"Hello, world!"), hello  # Django, not echo_app
    assert server.probe("/metrics").status == 404
    resp = server.probe("/ready")
    assert (resp.status, resp.body) == (400, b"request queue length 0 >= 0"), resp
    assert server.probe("/veryalive").status == 200
    assert server.probe("/alive").status == 404
    assert recorded(out) == [["from-settings", "1"], ["from-settings", "2"]]
    assert server.stop() == 0


def test_env_beats_settings(one_server, mysite, tmp_path):
    out = tmp_path / "out.jsonl"
    settings = {"HURRICANE_PORT": free_port(), "HURRICANE_NO_METRICS": True, "HURRICANE_COMMAND": ["echo_args from-settings"]}
    env = probes_env(PROBETEST_OUT=out, PROBETEST_SETTINGS=json.dumps(settings))
    env["HURRICANE_NO_METRICS"] = "Off"
    env["HURRICANE_COMMAND"] = "echo_args 'from env'"
    server = one_server("config-env", OPTS_SETTINGS, mysite, env, start=False)
    server.port_env = "HURRICANE_PORT"  # the setting names another port: the env one must win
    server.start()
    assert request(server.port, "GET", "/hello").status == 200
    assert server.probe("/metrics").status == 200
    assert recorded(out) == [["from env"]]
    assert server.stop() == 0


def test_flag_beats_env_and_settings(one_server, mysite, tmp_path):
    settings = {"HURRICANE_PORT": free_port(), "HURRICANE_NO_METRICS": False}
    env = probes_env(PROBETEST_SETTINGS=json.dumps(settings))
    env["HURRICANE_PORT"] = str(free_port())
    env["HURRICANE_NO_METRICS"] = "no"
    server = one_server("config-flag", [*OPTS_SETTINGS, "--no-metrics"], mysite, env)  # and --port N
    assert request(server.port, "GET", "/hello").status == 200
    assert server.probe("/metrics").status == 404
    assert server.stop() == 0


def test_env_only(one_server, mysite):
    env = base_env()
    env["HURRICANE_NO_METRICS"] = "YES"
    server = one_server("config-env-only", [], mysite, env, start=False)
    server.port_env = "HURRICANE_PORT"
    server.start()
    assert request(server.port, "GET", "/hello").status == 200
    assert server.probe("/metrics").status == 404
    assert server.probe("/alive").status == 200
    assert server.stop() == 0


def assert_failed_naming(rc, err, out, name):
    assert rc != 0, err
    assert name in err, err
    assert not any(w in err + out for w in PANIC_WORDS), err
    assert "Starting HTTP server" not in err


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_boolean_in_env(mysite, value):
    env = base_env()
    env["HURRICANE_NO_METRICS"] = value
    rc, err, out = run_hurricane(["serve"], mysite, env, listen=True)
    assert_failed_naming(rc, err, out, "HURRICANE_NO_METRICS")


def test_bad_number_in_env(mysite):
    env = base_env()
    env["HURRICANE_REQ_QUEUE_LEN"] = "lots"
    rc, err, out = run_hurricane(["serve"], mysite, env, listen=True)
    assert_failed_naming(rc, err, out, "HURRICANE_REQ_QUEUE_LEN")


def test_bad_setting_value(mysite):
    env = probes_env(PROBETEST_SETTINGS=json.dumps({"HURRICANE_PORT": "abc"}))
    rc, err, out = run_hurricane(["serve", "--host", "127.0.0.1", "--probe-port", str(free_port()), *OPTS_SETTINGS], mysite, env)
    assert_failed_naming(rc, err, out, "HURRICANE_PORT")


def test_bad_boolean_setting(mysite):
    env = probes_env(PROBETEST_SETTINGS=json.dumps({"HURRICANE_NO_METRICS": "perhaps"}))
    rc, err, out = run_hurricane(["serve", *OPTS_SETTINGS], mysite, env, listen=True)
    assert_failed_naming(rc, err, out, "HURRICANE_NO_METRICS")


@requires("probe", "webhook")
def test_help_lists_the_options_and_the_precedence():
    proc = run_hurricane(["serve", "--help"], None, timeout=30)
    assert proc.returncode == 0
    text = proc.stdout
    for flag in [
        "--probe-port", "--startup-probe", "--readiness-probe", "--liveness-probe", "--metrics", "--no-probe",
        "--no-metrics", "--log-probes", "--req-queue-len", "--max-lifetime", "--max-memory", "--probe-timeout",
        "--shutdown-delay", "--webhook-url", "--command", "--check-migrations", "--check-migrations-apply",
    ]:  # fmt: skip
        assert re.search(re.escape(flag) + r"(?![\w-])", text), f"{flag} not in serve --help"
    assert "HURRICANE_" in text, text
    assert re.search(r"environment", text, re.I), text
    assert re.search(r"Django setting", text, re.I), text
