"""Rolling updates and scaling under steady load: not one request lost."""

from __future__ import annotations

from . import scenarios


def assert_sound(res):
    """The harness saw what it claims: load at the configured rate, every successful
    request matched to a pod, and each pod's access log has exactly the requests the
    load says it answered."""
    assert res.rate > 150, res.summary()
    assert res.checks["unattributed"] == 0, res.summary()
    assert res.checks["access_mismatch"] == {}, f"(answered per the load, in the access log): {res.checks['access_mismatch']}\n{res.summary()}"


def test_rolling_update_loses_no_request(k8s):
    res = scenarios.rolling_update(k8s)
    print(res.summary())
    assert res.failed == 0, res.summary()
    assert res.checks["versions_before"] == ["v1"], res.summary()
    assert res.checks["after"] > 100 and res.checks["after_versions"] == ["v2"], res.summary()
    assert_sound(res)


def test_scaling_up_and_down_loses_no_request(k8s):
    res = scenarios.scale(k8s)
    print(res.summary())
    assert res.failed == 0, res.summary()
    assert all(not unrouted for _, unrouted in res.checks["unrouted"]), f"pods that got no new connection: {res.checks['unrouted']}"
    assert_sound(res)
