"""One simulated cluster: the Service's proxy, the endpoints controller, the pods
with their kubelet, the Deployment controller and the load, wired together, with a
directory of logs (every process's stderr, the proxy's routing log, the load's
requests, the events in order)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from support.env import free_port
from support.poll import poll_until

from .deployment import Deployment
from .endpoints import EndpointsController
from .images import Image
from .kubelet import Events, Pod
from .load import LoadConfig, LoadProcess
from .manifest import Manifest, Timing
from .proxy import ProxyProcess


class Cluster:
    def __init__(self, manifest: Manifest, timing: Timing, workdir: Path, seed: int):
        self.manifest, self.timing, self.seed = manifest, timing, seed
        self.workdir = Path(workdir)
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self.events = Events()
        self.lock = threading.RLock()
        self.pods: list[Pod] = []
        self.names = itertools.count()
        self.taken_ports: set[int] = set()
        self.proxy = ProxyProcess(self._port(), self.workdir / "proxy.jsonl", seed)
        self.endpoints = EndpointsController(self.proxy, seed, (timing.s(timing.propagation_min), timing.s(timing.propagation_max)), self.events)
        self.deployment: Deployment | None = None
        self.load: LoadProcess | None = None

    def _port(self) -> int:
        with self.lock:
            while (port := free_port()) in self.taken_ports:
                pass
            self.taken_ports.add(port)
            return port

    # -- pods ---------------------------------------------------------------------
    def create_pod(self, image: Image) -> Pod:
        template = self.manifest.template
        wanted = set(template.container_ports.values()) | set(image.listen_ports(template.env))
        ports = {cp: self._port() for cp in sorted(wanted)}
        name = f"{self.manifest.name}-{image.version}-{next(self.names)}"
        pod = Pod(name, image, template, ports, self.timing, self.logdir, self.events, self._changed)
        with self.lock:
            self.pods.append(pod)
        self.events.add(name, "created", f"image {image.name}, ports {ports}")
        pod.start()
        return pod

    def delete_pod(self, pod: Pod, why: str):
        self.events.add(pod.name, "delete", why)
        pod.delete()

    def live_pods(self) -> list[Pod]:
        with self.lock:
            return [p for p in self.pods if not p.terminating and not p.gone]

    def pod(self, name: str) -> Pod:
        with self.lock:
            return next(p for p in self.pods if p.name == name)

    def _changed(self, pod: Pod):
        with self.lock:
            pods = list(self.pods)
        self.endpoints.update(pods)

    # -- controllers ----------------------------------------------------------------
    def deploy(self, image: Image, replicas: int) -> Deployment:
        self.deployment = Deployment(self, image, replicas)
        self.events.add("deployment", "created", f"{image.name} x{replicas}")
        return self.deployment

    def settled(self) -> bool:
        """The rollout is complete, no deleted pod still runs, the proxy has the last slice."""
        with self.lock:
            draining = [p for p in self.pods if p.terminating and not p.gone]
        return self.deployment.complete() and not draining and self.endpoints.settled() and self.in_proxy() == {p.name for p in self.live_pods()}

    def wait_settled(self, timeout: float):
        poll_until(self.settled, timeout, interval=0.05, what="the cluster to settle", context=self.describe)

    def in_proxy(self) -> set[str]:
        """The pods the proxy sends new connections to."""
        view = self.endpoints.proxy_view()
        return set(view.ready()) if view else set()

    def wait_in_proxy(self, name: str, present: bool, timeout: float) -> float:
        """Wait until the proxy's view has (or lacks) `name` as ready; when that happened."""
        poll_until(lambda: (name in self.in_proxy()) == present, timeout, interval=0.02, what=f"{name} {'in' if present else 'out of'} the proxy", context=self.describe)
        return self.endpoints.proxy_view().delivered_at

    def describe(self) -> str:
        with self.lock:
            pods = list(self.pods)
        lines = [f"proxy view: {sorted(self.in_proxy())}"]
        for p in pods:
            lines.append(f"  {p.name}: ready={p.ready} terminating={p.terminating} gone={p.gone} restarts={p.restarts}")
        lines += [f"  {t - self.t0:8.3f} {pod} {ev} {d}" for t, pod, ev, d in self.events.items[-25:]]
        return "\n".join(lines)

    # -- load -----------------------------------------------------------------------
    def start_load(self, config: LoadConfig | None = None) -> LoadProcess:
        config = config or LoadConfig(port=self.proxy.port)
        config.port = self.proxy.port
        self.load = LoadProcess(config, self.workdir / "requests.jsonl")
        self.events.add("load", "started", str(config))
        return self.load

    def stop_load(self) -> list[dict]:
        records = self.load.stop()
        self.events.add("load", "stopped", f"{len(records)} attempts")
        return records

    # -- teardown ---------------------------------------------------------------------
    def close(self):
        if self.load is not None and self.load.proc.poll() is None:
            self.load.stop()
        if self.deployment is not None:
            self.deployment.close()
        with self.lock:
            pods = list(self.pods)
        for pod in pods:
            pod.delete()
        for pod in pods:
            pod.wait_gone(self.manifest.template.grace_period + 10)
        self.endpoints.close()
        self.proxy.stop()
        self.events.dump(self.workdir / "events.log", self.t0)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc):
        self.close()

