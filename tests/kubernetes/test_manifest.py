"""What the simulation takes from deploy/kubernetes, read as Kubernetes reads it."""

from __future__ import annotations

from .images import hurricane_image
from .manifest import Timing, load
from .run import SHORT_FACTOR


def test_the_rollout_strategy_keeps_capacity():
    m = load()
    assert m.surge_and_unavailable(3) == (1, 0), (m.max_surge, m.max_unavailable)


def test_probe_ports_resolve_to_where_hurricane_listens(tmp_path):
    m = load()
    app, probe = hurricane_image(tmp_path, "v1").listen_ports(m.template.env)
    assert m.template.app_port == app
    assert {p.container_port for p in m.template.probes.values()} == {probe}
    assert set(m.template.probes) == {"startup", "readiness", "liveness"}


def test_scaling_keeps_the_inequalities_the_drain_needs():
    """Scaled as the tests run it, the shutdown delay still outlasts the slowest
    endpoint propagation, and delay + graceful timeout stay within the grace period."""
    for factor in (1.0, SHORT_FACTOR):
        m = load().scaled(factor)
        env = m.template.env
        delay, graceful = float(env["HURRICANE_SHUTDOWN_DELAY"]), float(env["HURRICANE_GRACEFUL_TIMEOUT"])
        assert delay > Timing(factor=factor).s(Timing.propagation_max), (factor, delay)
        assert delay + graceful < m.template.grace_period, (factor, delay, graceful, m.template.grace_period)
        assert float(env["HURRICANE_PROBE_TIMEOUT"]) < min(p.timeout for p in m.template.probes.values())
