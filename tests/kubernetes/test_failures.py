"""A pod that goes wrong: the kubelet's probes take it out (readiness) or restart it
(liveness), as the manifest's thresholds say."""

from __future__ import annotations

from . import scenarios
from .test_rollout import assert_sound


def test_a_wedged_pod_is_restarted_and_only_its_requests_fail(k8s):
    res = scenarios.wedged(k8s)
    print(res.summary())
    c = res.checks
    assert c["restarts"] == 1, res.summary()
    assert c["killed_at"] - c["wedged_at"] <= c["kill_bound"], res.summary()
    assert c["outside"] == [], f"failed requests not routed to {c['pod']} while it was wedged:\n{res.summary()}"
    assert res.checks["unattributed"] == 0, res.summary()


def test_a_pod_without_its_database_gets_no_new_connection(k8s):
    res = scenarios.database_down(k8s)
    print(res.summary())
    c = res.checks
    assert res.failed == 0, res.summary()
    assert c["new_connections"] == [], f"new connections routed to {c['pod']} while out of the endpoints: {c['new_connections']}"
    assert c["reached_on_new_connections"] == [], res.summary()
    assert c["restarts"] == 0, res.summary()
    assert_sound(res)


def test_without_the_shutdown_delay_the_endpoint_race_loses_requests(k8s):
    """The control: the same harness sees the requests that the race loses when
    hurricane stops accepting at SIGTERM (HURRICANE_SHUTDOWN_DELAY "0") while the proxy
    still sends new connections to the pod."""
    res = scenarios.endpoint_race(k8s)
    print(res.summary())
    assert res.failed > 0, res.summary()
    deleted = res.checks["deleted"]
    assert len(deleted) == 1 and all(f["pod"] == deleted[0] for f in res.failures), res.summary()
    assert all(f["t0"] >= res.checks["sigterm_at"][0] for f in res.failures), res.summary()
