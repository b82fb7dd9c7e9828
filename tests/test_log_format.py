"""--log-format json: every line hurricane writes is one JSON object, for log
aggregators, with the access lines' fields; text stays the default."""

from __future__ import annotations

import json

from support.client import request
from support.poll import poll_until
from support.server import run_hurricane


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    objects = []
    for line in lines:
        try:
            objects.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"a log line is not JSON: {line!r}") from None
    return objects


def test_json_log_lines_carry_the_access_fields(one_server, mysite):
    server = one_server("log-json", ["--log-format", "json"], mysite)
    assert request(server.port, "POST", "/echo", body=b"abc").status == 200
    log = poll_until(lambda: server.log_since(0), 5, until=lambda text: '"path":"/echo"' in text, what="the access line of POST /echo")
    server.stop()
    events = json_lines(server.log_since(0))
    started = next(e for e in events if "Starting HTTP server" in e.get("message", ""))
    assert {"timestamp", "level", "target", "message"} <= started.keys(), started
    assert started["port"] == server.port, started
    access = next(e for e in json_lines(log) if e.get("path") == "/echo")
    assert access["target"] == "hurricane::access", access
    assert (access["method"], access["status"], access["client"], access["bytes"]) == ("POST", 200, "127.0.0.1", 3), access
    assert access["duration_ms"] > 0 and access["level"] == "INFO", access


def test_text_stays_the_default(django_server):
    assert request(django_server.port, "GET", "/hello").status == 200
    log = poll_until(lambda: django_server.log_since(0), 5, until=lambda text: "200 GET /hello (127.0.0.1)" in text, what="a text access line")
    assert not log.lstrip().startswith("{"), log[:200]


def test_a_start_up_failure_is_reported_in_a_json_line(tmp_path):
    result = run_hurricane(["serve", "--log-format", "json", "--app", "no_such_module:app"], tmp_path, timeout=60, listen=True)
    assert result.returncode != 0, result
    # Every line is JSON (json_lines), the error report included: one event.
    reports = [e for e in json_lines(result.stderr) if e["message"].startswith("hurricane: error:")]
    assert len(reports) == 1, result.stderr
    assert reports[0]["level"] == "ERROR" and "no_such_module" in reports[0]["message"], reports
