"""The scenarios: each runs one cluster under steady load and returns a `Result`
(requests, failed, retries, duration, notes) with the facts its test asserts in
`Result.checks`.

- rolling_update: 3 replicas from v1 to v2 with the manifest's strategy;
- scale: 1 -> 4 -> 1 replicas;
- wedged: a view of one pod holds the GIL for good; liveness has the kubelet restart it;
- database_down: one pod's database goes away; readiness takes it out of the Service;
- endpoint_race: the control, hurricane without its shutdown delay (HURRICANE_SHUTDOWN_DELAY
  "0") scaled 2 -> 1 with a fixed propagation delay: the proxy still sends new
  connections to the pod after SIGTERM, and they fail; the harness must see that.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean

from support.client import ConnectionClosed, request
from support.poll import poll_until
from support.probes import flag_off, flag_on

from .analysis import Result, Routes, access_counts, attribute, per_pod_ok, result
from .cluster import Cluster
from .images import HURRICANE, Image
from .load import LoadConfig
from .manifest import Manifest, Timing

# hurricane answers liveness / readiness from a background run of the checks that is
# at most this old (README, "Probes"): a wedged interpreter shows in the probes after
# up to this long. It is hurricane's, not the manifest's, so it is not scaled.
CHECK_RESULT_AGE = 3.0


@dataclass
class Context:
    manifest: Manifest  # already scaled by timing.factor
    timing: Timing
    images: dict[str, tuple[Image, Image]]  # server -> (v1, v2); "probetest" -> (v1, v1)
    flags_root: Path  # per-pod flag directories of the probetest image
    workdir: Path
    seed: int
    short: bool
    load: LoadConfig = field(default_factory=lambda: LoadConfig(port=0))

    @property
    def warmup(self) -> float:
        """Load before the action, and after it once the cluster settled."""
        return 2.0 if self.short else 8.0

    @property
    def patience(self) -> float:
        """Upper bound of any wait for the cluster (start-ups on a busy machine included)."""
        return 120.0 + 20 * self.manifest.template.grace_period

    def cluster(self, name: str, manifest: Manifest | None = None, timing: Timing | None = None) -> Cluster:
        return Cluster(manifest or self.manifest, timing or self.timing, self.workdir / name, self.seed)

    def load_config(self) -> LoadConfig:
        return replace(self.load)


def _finish(ctx: Context, c: Cluster, name: str, server: str, records: list[dict], allowed, duration: float) -> Result:
    routes = Routes(c.proxy.records())
    attribute(records, routes)
    res = result(name, server, records, allowed, duration)
    res.seed = ctx.seed
    delays = c.endpoints.delays()
    if delays:
        res.notes.append(f"{len(delays)} endpoint changes reached the proxy after {min(delays):.2f}-{max(delays):.2f}s (mean {mean(delays):.2f}s, seed {ctx.seed})")
    res.notes.append(f"logs: {c.workdir}")
    res.checks["records"] = records
    res.checks["routes"] = routes
    res.checks["unattributed"] = sum(1 for r in records if r["outcome"] == "ok" and r["pod"] is None)
    if server == HURRICANE:
        ok = per_pod_ok(records)
        logged = {p.name: access_counts(c.logdir, p.name) for p in c.pods}
        res.checks["access_mismatch"] = {p: (ok.get(p, 0), n) for p, n in logged.items() if ok.get(p, 0) != n}
    return res


def _start(ctx: Context, c: Cluster, image: Image, replicas: int):
    dep = c.deploy(image, replicas)
    c.wait_settled(ctx.patience)
    c.start_load(ctx.load_config())
    time.sleep(ctx.warmup)
    return dep


def rolling_update(ctx: Context, server: str = HURRICANE, replicas: int = 3) -> Result:
    v1, v2 = ctx.images[server]
    with ctx.cluster(f"rolling-update-{server}") as c:
        dep = _start(ctx, c, v1, replicas)
        started = time.time()
        dep.set_image(v2)
        dep.wait_complete(ctx.patience)
        complete = time.time()
        c.wait_settled(ctx.patience)
        done = time.time()
        time.sleep(ctx.warmup)
        records = c.stop_load()

        def allowed(r):
            return {v1.version, v2.version} if r["t0"] < done else {v2.version}

        res = _finish(ctx, c, f"rolling update {replicas}x {v1.version}->{v2.version}", server, records, allowed, done - started)
        after = [r for r in records if r["t0"] >= done and r["outcome"] == "ok"]
        res.checks.update(done=done, after=len(after), after_versions=sorted({r["body"] for r in after}))
        res.checks["versions_before"] = sorted({r["body"] for r in records if r["t0"] < started and r["outcome"] == "ok"})
        res.notes.append(
            f"rollout complete (kubectl rollout status) after {complete - started:.1f}s, the last old pod gone after {done - started:.1f}s; "
            f"{len(after)} requests after that, answered {res.checks['after_versions']}"
        )
        return res


def scale(ctx: Context, sizes: tuple[int, ...] = (1, 4, 1)) -> Result:
    v1, _ = ctx.images[HURRICANE]
    with ctx.cluster("scale") as c:
        dep = _start(ctx, c, v1, sizes[0])
        started = time.time()
        served_by = []
        for n in sizes[1:]:
            dep.scale(n)
            dep.wait_complete(ctx.patience)
            c.wait_settled(ctx.patience)
            t = time.time()
            time.sleep(ctx.warmup)
            served_by.append((n, {p.name for p in c.live_pods()}, t, time.time()))
        duration = time.time() - started
        records = c.stop_load()
        res = _finish(ctx, c, f"scale {' -> '.join(map(str, sizes))}", HURRICANE, records, lambda r: {v1.version}, duration)
        routes = res.checks["routes"]
        res.checks["unrouted"] = [(n, sorted(p for p in pods if not routes.routed(p, t0, t1))) for n, pods, t0, t1 in served_by]
        return res


def _wedge(pod) -> threading.Thread:
    """A request to the pod itself (not through the Service) whose view never gives the GIL back."""

    def run():
        try:
            request(pod.app_port, "GET", "/wedge?seconds=1e9", timeout=3600)
        except (OSError, ConnectionClosed):
            pass  # the kubelet kills the process under it

    thread = threading.Thread(target=run, name="wedge", daemon=True)
    thread.start()
    return thread


def wedged(ctx: Context, replicas: int = 3) -> Result:
    image, _ = ctx.images["probetest"]
    live = ctx.manifest.template.probes["liveness"]
    with ctx.cluster("wedged") as c:
        _start(ctx, c, image, replicas)
        pod = c.live_pods()[0]
        marker = ctx.flags_root / pod.name / "wedge.started"
        _wedge(pod)
        poll_until(marker.exists, 30, interval=0.02, what="the /wedge view to start")
        wedged_at = time.time()
        c.events.add(pod.name, "wedged", "a view holds the GIL and never gives it back")
        killed = poll_until(lambda: [e for e in c.events.find(pod.name, "SIGTERM") if "liveness" in e[3]], ctx.patience, interval=0.05, what="the liveness kill", context=c.describe)
        killed_at = killed[0][0]
        poll_until(lambda: pod.restarts >= 1 and pod.ready, ctx.patience, interval=0.05, what="the restarted container to be ready", context=c.describe)
        back_at = c.wait_in_proxy(pod.name, True, ctx.patience)
        time.sleep(ctx.warmup)
        records = c.stop_load()
        res = _finish(ctx, c, "wedged pod (GIL held for good)", HURRICANE, records, lambda r: {image.version}, back_at - wedged_at)
        outside = [r for r in res.failures if r["pod"] != pod.name or not wedged_at - 1 <= r["t0"] <= back_at]
        ended = next((e for e in c.events.find(pod.name) if e[2] in ("container exited", "SIGKILL") and e[0] >= killed_at), None)
        res.checks.update(pod=pod.name, wedged_at=wedged_at, killed_at=killed_at, back_at=back_at, restarts=pod.restarts, outside=outside)
        res.checks["kill_bound"] = (live.failure_threshold + 1) * live.period + live.timeout + CHECK_RESULT_AGE + 1.0
        ending = f"{ended[2]} ({ended[3]}) {ended[0] - killed_at:.1f}s later" if ended else "no exit recorded"
        res.notes.append(
            f"{pod.name}: liveness kill {killed_at - wedged_at:.1f}s after the wedge (bound {res.checks['kill_bound']:.1f}s), {ending}, "
            f"back in the proxy {back_at - wedged_at:.1f}s after the wedge; {res.failed} failed requests, all routed to it while wedged: {not outside}"
        )
        return res


def database_down(ctx: Context, replicas: int = 3) -> Result:
    image, _ = ctx.images["probetest"]
    with ctx.cluster("database-down") as c:
        _start(ctx, c, image, replicas)
        pod = c.live_pods()[1]
        flags = ctx.flags_root / pod.name
        flag_on(flags, "database-down")
        down_at = time.time()
        c.events.add(pod.name, "database down", "")
        out_at = c.wait_in_proxy(pod.name, False, ctx.patience)
        time.sleep(ctx.warmup)
        flag_off(flags, "database-down")
        up_at = time.time()
        c.events.add(pod.name, "database up", "")
        back_at = c.wait_in_proxy(pod.name, True, ctx.patience)
        time.sleep(ctx.warmup)
        records = c.stop_load()
        res = _finish(ctx, c, "database down in one pod", HURRICANE, records, lambda r: {image.version}, back_at - down_at)
        routes = res.checks["routes"]
        reached = [r for r in records if r["pod"] == pod.name and out_at <= r["t0"] <= back_at and r["outcome"] == "ok"]
        new_conns = routes.routed(pod.name, out_at, back_at)
        res.checks.update(pod=pod.name, out_at=out_at, back_at=back_at, new_connections=new_conns, restarts=pod.restarts)
        res.checks["reached"] = reached
        res.checks["reached_on_new_connections"] = [r for r in reached if r["conn_t0"] >= out_at]
        res.notes.append(
            f"{pod.name}: out of the proxy {out_at - down_at:.1f}s after its database went away, back {back_at - up_at:.1f}s after it returned; "
            f"while out: {len(new_conns)} new connections routed to it, {len(reached)} requests reached it on "
            f"{len({(r['local_port'], r['conn_t0']) for r in reached})} keep-alive connections opened before it left"
        )
        return res


def endpoint_race(ctx: Context) -> Result:
    """The control: no shutdown delay, a fixed propagation delay."""
    v1, _ = ctx.images[HURRICANE]
    template = replace(ctx.manifest.template, env={**ctx.manifest.template.env, "HURRICANE_SHUTDOWN_DELAY": "0"})
    manifest = replace(ctx.manifest, template=template)
    timing = replace(ctx.timing, propagation_min=ctx.timing.propagation_max, propagation_max=ctx.timing.propagation_max)
    with ctx.cluster("endpoint-race", manifest, timing) as c:
        dep = _start(ctx, c, v1, 2)
        started = time.time()
        dep.scale(1)
        c.wait_settled(ctx.patience)
        duration = time.time() - started
        time.sleep(1.0)
        records = c.stop_load()
        res = _finish(ctx, c, "control: scale 2 -> 1 without a shutdown delay", HURRICANE, records, lambda r: {v1.version}, duration)
        deleted = [p for p in c.pods if p.gone]
        res.checks.update(deleted=[p.name for p in deleted], sigterm_at=[e[0] for p in deleted for e in c.events.find(p.name, "SIGTERM")])
        return res
