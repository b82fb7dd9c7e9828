"""`--webhook-url`: JSON POSTs to a local receiver (http.server in a
thread) for start-up success and failure and for liveness/readiness state
changes, with retries, never blocking probes or requests.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from support.client import request
from support.env import requires
from support.probes import (
    PROBES_SETTINGS,
    PYTHONPATH,
    fetch_into,
    flag_off,
    flag_on,
    in_threads,
    probes_env,
    wait_probe,
)
from support.server import run_hurricane
from support.webhook import Receiver

pytestmark = requires("probe", "webhook")

KEYS = ["info", "type", "status", "timestamp", "podname", "version"]
FAILED_KEYS = ["info", "type", "traceback", "status", "timestamp", "podname", "version"]
OPTS_SETTINGS = ["--settings", "testsettings.hurricane_opts", *PYTHONPATH]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def assert_payload(call, type_, status, version=None):
    pairs = Receiver.pairs(call)
    keys = [k for k, _ in pairs]
    assert keys == (FAILED_KEYS if status == "failed" and type_ == "startup" else KEYS), pairs
    body = dict(pairs)
    assert body["info"] == f"{type_.capitalize()} webhook", body
    assert (body["type"], body["status"]) == (type_, status), body
    assert isinstance(body["timestamp"], int) and abs(body["timestamp"] - time.time()) < 120, body
    assert body["podname"] == socket.gethostname(), body
    assert body["version"] == version, body
    assert call["path"] == "/hook"
    assert call["headers"].get("content-type", "").split(";")[0] == "application/json", call["headers"]
    return body


def calls_of(receiver, type_):
    with receiver.lock:
        calls = list(receiver.calls)
    return [c for c in calls if json.loads(c["raw"])["type"] == type_]


def statuses(receiver, type_):
    return [json.loads(c["raw"])["status"] for c in calls_of(receiver, type_)]


def test_startup_and_state_changes(one_server, mysite, receiver, tmp_path):
    flags = tmp_path / "flags"
    env = probes_env(flags, PROBETEST_SETTINGS=json.dumps({"HURRICANE_VERSION": "1.2.3-test"}))
    server = one_server("webhooks", [*OPTS_SETTINGS, "--webhook-url", receiver.url], mysite, env)
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "startup"], what="startup webhook")
    (startup,) = calls_of(receiver, "startup")
    assert_payload(startup, "startup", "succeeded", "1.2.3-test")

    # first evaluation: unknown -> passing sends "succeeded", once
    for _ in range(3):
        assert server.probe("/alive").status == 200
        assert server.probe("/ready").status == 200
        time.sleep(0.2)
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "readiness"], what="readiness webhook")
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "liveness"], what="liveness webhook")
    time.sleep(0.7)
    assert statuses(receiver, "liveness") == ["succeeded"]
    assert statuses(receiver, "readiness") == ["succeeded"]
    assert_payload(calls_of(receiver, "liveness")[0], "liveness", "succeeded", "1.2.3-test")
    assert_payload(calls_of(receiver, "readiness")[0], "readiness", "succeeded", "1.2.3-test")

    # passing -> failing -> passing: one webhook per change, however many probes
    flag_on(flags, "liveness")
    wait_probe(server, "/alive", 500, b"check error")
    for _ in range(3):
        assert server.probe("/alive").status == 500
    flag_off(flags, "liveness")
    wait_probe(server, "/alive", 200)
    for _ in range(3):
        assert server.probe("/alive").status == 200
    receiver.wait_for(lambda p: len([x for x in p if x["type"] == "liveness"]) >= 3, what="3 liveness webhooks")
    time.sleep(0.7)
    assert statuses(receiver, "liveness") == ["succeeded", "failed", "succeeded"]
    failed = assert_payload(calls_of(receiver, "liveness")[1], "liveness", "failed", "1.2.3-test")
    assert "traceback" not in failed
    assert statuses(receiver, "readiness") == ["succeeded"]
    assert statuses(receiver, "startup") == ["succeeded"]
    assert server.stop() == 0


def test_startup_failed(mysite, receiver):
    args = [*PROBES_SETTINGS, "--webhook-url", receiver.url, "--command", "fail_always"]
    rc, err, _ = run_hurricane(["serve", *args], mysite, probes_env(), listen=True)
    assert rc == 1, err
    payloads = receiver.wait_for(lambda p: [x for x in p if x["type"] == "startup"], timeout=3, what="startup webhook")
    assert len(payloads) == 1, payloads
    body = assert_payload(calls_of(receiver, "startup")[0], "startup", "failed", None)
    assert isinstance(body["traceback"], str) and "probetest failure requested" in body["traceback"], body


def test_queue_full_sends_one_failed_webhook(one_server, mysite, receiver):
    server = one_server("webhooks-queue", ["--workers", "1", "--req-queue-len", "2", "--webhook-url", receiver.url], mysite)
    assert server.probe("/ready").status == 200
    receiver.wait_for(lambda p: [x for x in p if x["type"] == "readiness"], what="readiness webhook")
    out = []
    # 1 thread runs, 2 wait: 2 >= 2 for 1.5 s
    in_threads(fetch_into, [(out, server.port, "/sleep?ms=1500")] * 3)
    wait_probe(server, "/ready", 400, re.compile(rb"request queue length 2 >= 2"), timeout=1.4)
    for _ in range(3):
        server.probe("/ready")
    wait_probe(server, "/ready", 200, b"", timeout=4)
    for _ in range(3):
        assert server.probe("/ready").status == 200
    receiver.wait_for(lambda p: len([x for x in p if x["type"] == "readiness"]) >= 3, what="3 readiness webhooks")
    time.sleep(0.7)
    assert statuses(receiver, "readiness") == ["succeeded", "failed", "succeeded"]
    assert statuses(receiver, "liveness") == []  # /alive was never asked
    assert all(getattr(r, "body", None) == b"slept" for r in out), out
    # (the server is killed at teardown; the last sleep is not waited for)


def test_retries_until_the_receiver_accepts(one_server, mysite):
    # startup: 500, 500, then 200 on the third attempt; liveness: 500 three times, given up
    receiver = Receiver(statuses=[500, 500, 200, 500])
    try:
        server = one_server("webhooks-retry", ["--webhook-url", receiver.url], mysite)
        receiver.wait_for(lambda p: len(p) >= 3, timeout=10, what="3 attempts")
        time.sleep(1.0)
        with receiver.lock:
            calls = list(receiver.calls)
        assert len(calls) == 3, [c["raw"] for c in calls]  # no 4th attempt after the 200
        assert calls[0]["raw"] == calls[1]["raw"] == calls[2]["raw"]
        assert_payload(calls[2], "startup", "succeeded", None)
        gaps = [calls[1]["at"] - calls[0]["at"], calls[2]["at"] - calls[1]["at"]]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6, f"no backoff between attempts: {gaps}"

        assert server.probe("/alive").status == 200
        receiver.wait_for(lambda p: len(p) >= 6, timeout=10, what="3 liveness attempts")
        time.sleep(1.5)
        liveness = calls_of(receiver, "liveness")
        assert len(liveness) == 3, [c["raw"] for c in liveness]  # at most 3 attempts
        assert_payload(liveness[0], "liveness", "succeeded", None)
        assert server.stop() == 0
    finally:
        receiver.close()


def test_slow_receiver_blocks_nothing(one_server, mysite):
    receiver = Receiver(delay=2.0)
    try:
        server = one_server("webhooks-slow", ["--webhook-url", receiver.url], mysite)
        receiver.wait_for(lambda p: p, what="startup webhook")  # answered only 2 s later
        for path in ["/alive", "/ready", "/alive"]:  # each of these sends a webhook too
            start = time.monotonic()
            resp = server.probe(path)
            took = time.monotonic() - start
            assert resp.status == 200 and took < 1.0, (path, took, resp)
        start = time.monotonic()
        assert request(server.port, "GET", "/hello").status == 200
        assert time.monotonic() - start < 1.0
        # (the server is killed at teardown, with webhooks possibly still waiting for answers)
    finally:
        receiver.close()
