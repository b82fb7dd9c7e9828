"""Pods and the kubelet that runs them.

A pod is one container: one real server process (`Container`, a support.server.Server
with the pod's fixed ports), restarted in place (same ports, a new process) when the
kubelet kills it for its probes or it exits on its own.

The kubelet follows pkg/kubelet/prober: one worker per probe and container, ticking
every periodSeconds (readiness also at once when the startup probe succeeds, as the
pod status sync triggers it); each probe is an HTTP GET on a new connection (keep-alives
disabled, so `Connection: close`), `User-Agent: kube-probe/1.34`, `Accept: */*`,
bounded by timeoutSeconds, success iff 200 <= status < 400. Results flip only after
failureThreshold / successThreshold equal results in a row. Before the startup probe
has succeeded the other two do not run (readiness stays Failure, liveness Success);
within initialDelaySeconds of the container's start a probe does not run. A startup
or liveness result of Failure kills the container: SIGTERM, SIGKILL after
terminationGracePeriodSeconds; it is then started again (restartPolicy Always), at
once the first time, then after a back-off of 10 s doubling to 300 s.

Deleting a pod marks it terminating at once (the endpoints controller takes it out)
and kills its container the same way (no preStop hook: the manifest has none); it is
not started again.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.client import ConnectionClosed, request
from support.server import Server

from .images import Image
from .manifest import Probe, PodTemplate, Timing

USER_AGENT = "kube-probe/1.34"
SUCCESS, FAILURE = "Success", "Failure"


class Events:
    """What happened, in order: (time, pod, event, detail). Shared by every part."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: list[tuple[float, str, str, str]] = []

    def add(self, pod: str, event: str, detail: str = ""):
        with self.lock:
            self.items.append((time.time(), pod, event, detail))

    def find(self, pod: str | None = None, event: str | None = None) -> list[tuple[float, str, str, str]]:
        with self.lock:
            return [e for e in self.items if (pod is None or e[1] == pod) and (event is None or e[2] == event)]

    def dump(self, path: Path, t0: float):
        with self.lock:
            lines = [f"{t - t0:9.3f}  {pod:<24} {event:<22} {detail}" for t, pod, event, detail in self.items]
        path.write_text("\n".join(lines) + "\n")


class Container(Server):
    """One run of a pod's process on the pod's fixed loopback ports."""

    def __init__(self, pod: "Pod", number: int, logdir: Path):
        self.pod = pod
        env = pod.image.environment(pod.template.env, pod.name)
        # Its log: <pod>.run<N>.0.stderr.log in the log directory.
        super().__init__(f"{pod.name}.run{number}", [], pod.image.project, logdir, env)
        self.port = pod.ports[pod.template.app_port]

    def _pick_ports(self) -> int:
        return self.port

    def command(self, port: int) -> list[str]:
        return self.pod.image.command(self.pod.template.env, self.pod.ports)


def http_probe(port: int, probe: Probe) -> tuple[str, str]:
    """One kubelet HTTP probe: (Success | Failure, why)."""
    start = time.monotonic()
    headers = {"Host": f"127.0.0.1:{port}", "User-Agent": USER_AGENT, "Accept": "*/*"}
    try:
        resp = request(port, "GET", probe.path, headers=headers, timeout=probe.timeout)
    except (OSError, ConnectionClosed) as exc:
        return FAILURE, f"{type(exc).__name__}: {exc}"
    took = time.monotonic() - start
    if took > probe.timeout:
        return FAILURE, f"timeout: answered after {took:.2f}s"
    if 200 <= resp.status < 400:
        return SUCCESS, str(resp.status)
    return FAILURE, f"HTTP probe failed with statuscode: {resp.status}"


@dataclass
class Run:
    """One container run: its process and probe state."""

    number: int
    container: Container
    started_at: float
    stop: threading.Event = field(default_factory=threading.Event)
    # Wakes the readiness worker before its next tick (the kubelet's manualTriggerCh).
    readiness_now: threading.Event = field(default_factory=threading.Event)
    started: bool = False  # the startup probe succeeded (or there is none)
    ready: bool = False  # readiness result Success
    kill_reason: str | None = None


class Pod:
    """One pod of the Deployment and its kubelet."""

    def __init__(self, name: str, image: Image, template: PodTemplate, ports: dict[int, int], timing: Timing, logdir: Path, events: Events, on_change):
        self.name, self.image, self.template, self.ports = name, image, template, ports
        self.timing, self.logdir, self.events, self.on_change = timing, logdir, events, on_change
        self.revision = image.name
        self.created = time.time()
        self.lock = threading.Condition()
        self.run: Run | None = None
        self.runs: list[Run] = []
        self.terminating = False
        self.gone = False  # deleted and its container exited
        self.ready_since: float | None = None
        self.restarts = 0
        self.supervisor = threading.Thread(target=self._supervise, name=f"kubelet-{name}", daemon=True)

    # -- what the controllers read --------------------------------------------------
    @property
    def app_port(self) -> int:
        return self.ports[self.template.app_port]

    @property
    def ready(self) -> bool:
        """The pod's Ready condition (it stays as the probes say while terminating)."""
        run = self.run
        return run is not None and run.container.alive() and run.started and run.ready

    def available(self, min_ready: float) -> bool:
        since = self.ready_since
        return not self.terminating and since is not None and time.time() - since >= min_ready

    def endpoint(self) -> dict:
        ready = self.ready
        return {"name": self.name, "port": self.app_port, "ready": ready and not self.terminating, "serving": ready, "terminating": self.terminating}

    # -- what the controllers do ----------------------------------------------------
    def start(self):
        self.supervisor.start()

    def delete(self):
        with self.lock:
            if self.terminating:
                return
            self.terminating = True
            self.lock.notify_all()
        self.events.add(self.name, "deleted")
        self._changed()

    def wait_gone(self, timeout: float) -> bool:
        self.supervisor.join(timeout)
        return not self.supervisor.is_alive()

    # -- the kubelet ------------------------------------------------------------------
    def _changed(self):
        with self.lock:
            ready = self.ready
            if ready and self.ready_since is None:
                self.ready_since = time.time()
            elif not ready:
                self.ready_since = None
        self.on_change(self)

    def _supervise(self):
        backoff = 0.0
        number = 0
        while not self.terminating:
            run = self._start_container(number)
            reason = self._wait_for_end(run)
            if reason is not None:
                self._kill(run, reason)
            self._finish(run)
            if self.terminating:
                break
            self.restarts += 1
            number += 1
            if backoff:
                self.events.add(self.name, "back-off", f"{backoff:.2f}s")
                with self.lock:
                    self.lock.wait_for(lambda: self.terminating, timeout=backoff)
            backoff = min(self.timing.s(self.timing.backoff_max), (backoff * 2) or self.timing.s(self.timing.backoff_initial))
        self.gone = True
        self.events.add(self.name, "gone")
        self._changed()

    def _start_container(self, number: int) -> Run:
        container = Container(self, number, self.logdir)
        container.launch()
        run = Run(number, container, time.time(), started="startup" not in self.template.probes)
        with self.lock:
            self.run = run
            self.runs.append(run)
        self.events.add(self.name, "container started", f"run {number}, pid {container.pid}, port {self.app_port}")
        for probe in self.template.probes.values():
            threading.Thread(target=self._probe_worker, args=(run, probe), name=f"{self.name}-{probe.kind}-{number}", daemon=True).start()
        self._changed()
        return run

    def _wait_for_end(self, run: Run) -> str | None:
        """Until the pod is deleted or a probe asks for a kill (the reason), or the process
        exits by itself (None)."""
        with self.lock:
            while True:
                if self.terminating:
                    return "pod deleted"
                if run.kill_reason is not None:
                    return run.kill_reason
                if not run.container.alive():
                    self.events.add(self.name, "container exited", f"exit code {run.container.proc.returncode}")
                    return None
                self.lock.wait(0.05)

    def _kill(self, run: Run, reason: str):
        """SIGTERM, then SIGKILL after the grace period."""
        proc = run.container.proc
        grace = self.template.grace_period
        self.events.add(self.name, "SIGTERM", f"{reason}; grace period {grace:.2f}s")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
            self.events.add(self.name, "container exited", f"exit code {proc.returncode}")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.events.add(self.name, "SIGKILL", f"still running after the grace period; exit code {proc.returncode}")

    def _finish(self, run: Run):
        run.stop.set()
        run.readiness_now.set()
        run.container.returncode = run.container.proc.poll()
        self._changed()

    def _probe_worker(self, run: Run, probe: Probe):
        last, count = None, 0
        port = self.ports.get(probe.container_port)
        wake = run.readiness_now if probe.kind == "readiness" else run.stop
        next_t = time.monotonic()
        while not run.stop.is_set():
            result = self._probe_once(run, probe, port)
            if result is not None:
                count = count + 1 if result[0] == last else 1
                last = result[0]
                if self._apply(run, probe, result, count) == "stop":
                    return
            now = time.monotonic()
            while next_t <= now:  # a ticker drops the ticks it missed
                next_t += probe.period
            if wake.wait(next_t - now) and wake is run.readiness_now:
                wake.clear()

    def _probe_once(self, run: Run, probe: Probe, port: int | None) -> tuple[str, str] | None:
        """None when the kubelet skips this tick (startup not done, initial delay)."""
        if probe.kind == "startup" and run.started:
            return None
        if probe.kind != "startup" and not run.started:
            return None
        if time.time() - run.started_at < probe.initial_delay:
            return None
        if port is None:
            return FAILURE, f"no container port {probe.container_port}"
        return http_probe(port, probe)

    def _apply(self, run: Run, probe: Probe, result: tuple[str, str], count: int) -> str | None:
        outcome, why = result
        if outcome == FAILURE:
            self.events.add(self.name, f"{probe.kind} failure", f"{count}/{probe.failure_threshold}: {why}")
            if count < probe.failure_threshold:
                return None
        elif count < probe.success_threshold:
            return None
        if probe.kind == "startup":
            if outcome == SUCCESS:
                run.started = True
                self.events.add(self.name, "started", f"{time.time() - run.started_at:.2f}s after the container")
                # The pod's status sync that follows finds no readiness Success and
                # triggers a readiness run at once (prober_manager.go UpdatePodStatus).
                run.readiness_now.set()
                self._changed()
                return "stop"
            return self._request_kill(run, f"startup probe failed {count} times ({why})")
        if probe.kind == "liveness":
            return self._request_kill(run, f"liveness probe failed {count} times ({why})") if outcome == FAILURE else None
        ready = outcome == SUCCESS
        if ready != run.ready:
            run.ready = ready
            self.events.add(self.name, "ready" if ready else "not ready", why)
            self._changed()
        return None

    def _request_kill(self, run: Run, reason: str) -> str:
        with self.lock:
            if run.kill_reason is None:
                run.kill_reason = reason
            self.lock.notify_all()
        return "stop"  # the kubelet holds this probe until the container is replaced
