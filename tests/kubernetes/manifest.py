"""What the simulation reads from deploy/kubernetes: the Deployment's rollout strategy,
pod template (grace period, the container's ports and probes) and the ConfigMap its
container takes its environment from, and the Service's target port.

Everything is read the way Kubernetes reads it: probe defaults filled in, a probe's
named port resolved through the container's ports, maxSurge / maxUnavailable as
numbers or percentages (surge rounds up, unavailable rounds down), envFrom
configMapRef resolved to the ConfigMap's data. Seconds are then multiplied by one
time factor (`Timing`), so that the tests run the manifest's numbers faster with
every ratio between them kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from support.env import REPO

DEPLOY_DIR = REPO / "deploy" / "kubernetes"

# Probe field defaults (core/v1 Probe).
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
# ConfigMap values that are durations in seconds and interact with the kubelet's and
# the endpoints' timing: scaled with everything else.
SCALED_ENV = ("HURRICANE_SHUTDOWN_DELAY", "HURRICANE_GRACEFUL_TIMEOUT", "HURRICANE_PROBE_TIMEOUT")


class ManifestError(Exception):
    """The manifests lack something the simulation needs, or contradict themselves."""


@dataclass(frozen=True)
class Probe:
    kind: str  # startup | readiness | liveness
    path: str
    container_port: int  # resolved from a name through the container's ports
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int
    initial_delay: float


@dataclass(frozen=True)
class PodTemplate:
    grace_period: float  # terminationGracePeriodSeconds
    container_ports: dict[str, int]  # name -> containerPort
    probes: dict[str, Probe]  # kind -> Probe (only those the manifest has)
    env: dict[str, str]  # the ConfigMap's data, as envFrom gives it
    app_port: int  # the container port the Service targets


@dataclass(frozen=True)
class Manifest:
    name: str
    replicas: int | None  # None: the manifest leaves it to an autoscaler
    max_surge: int | str
    max_unavailable: int | str
    min_ready: float  # minReadySeconds
    template: PodTemplate
    factor: float = 1.0  # every duration above is already multiplied by it

    def surge_and_unavailable(self, replicas: int) -> tuple[int, int]:
        """maxSurge / maxUnavailable as pod counts for `replicas` (Kubernetes rounds a
        percentage of surge up and of unavailable down; both 0 is invalid)."""
        surge = _count(self.max_surge, replicas, math.ceil)
        unavailable = _count(self.max_unavailable, replicas, math.floor)
        if surge == 0 and unavailable == 0:
            raise ManifestError("maxSurge and maxUnavailable cannot both be 0")
        return surge, unavailable

    def scaled(self, factor: float) -> "Manifest":
        """The same manifest with every duration (and the ConfigMap's duration options)
        multiplied by `factor`."""
        t = self.template
        probes = {
            kind: replace(p, period=p.period * factor, timeout=p.timeout * factor, initial_delay=p.initial_delay * factor)
            for kind, p in t.probes.items()
        }
        env = {k: (_scale_seconds(v, factor) if k in SCALED_ENV else v) for k, v in t.env.items()}
        template = replace(t, grace_period=t.grace_period * factor, probes=probes, env=env)
        return replace(self, min_ready=self.min_ready * factor, template=template, factor=self.factor * factor)


def _scale_seconds(value: str, factor: float) -> str:
    return f"{float(value) * factor:g}"


def _count(value: int | str, replicas: int, rounding) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ManifestError(f"expected a number or a percentage, got {value!r}")
    return int(rounding(replicas * int(text[:-1]) / 100))


def documents(directory: Path = DEPLOY_DIR) -> list[dict]:
    """The documents of the kustomize base, assembled by tests/support/kustomize.py when
    that module is there (as `kubectl kustomize` would), else every *.yaml file."""
    try:
        from support import kustomize
    except ImportError:
        kustomize = None
    if kustomize is not None and (directory / "kustomization.yaml").exists():
        return kustomize.build(directory)
    docs = []
    for path in sorted(directory.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and "kind" in d]
    return docs


def _one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise ManifestError(f"expected one {kind}{' ' + name if name else ''} in the manifests, found {len(found)}")
    return found[0]


def _port_number(port: int | str, ports: dict[str, int], what: str) -> int:
    if isinstance(port, int):
        return port
    if port not in ports:
        raise ManifestError(f"{what} names the port {port!r}, which the container does not declare ({sorted(ports)})")
    return ports[port]


def _probe(kind: str, spec: dict, ports: dict[str, int]) -> Probe:
    if "httpGet" not in spec:
        raise ManifestError(f"the {kind} probe is not an httpGet probe; only those are simulated")
    fields = {**PROBE_DEFAULTS, **spec}
    get = spec["httpGet"]
    if kind in ("liveness", "startup") and fields["successThreshold"] != 1:
        raise ManifestError(f"the {kind} probe's successThreshold must be 1 (Kubernetes refuses the manifest)")
    return Probe(
        kind=kind,
        path=get.get("path", "/"),
        container_port=_port_number(get["port"], ports, f"the {kind} probe"),
        period=float(fields["periodSeconds"]),
        timeout=float(fields["timeoutSeconds"]),
        failure_threshold=int(fields["failureThreshold"]),
        success_threshold=int(fields["successThreshold"]),
        initial_delay=float(fields["initialDelaySeconds"]),
    )


def _env(container: dict, docs: list[dict]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = _one(docs, "ConfigMap", source["configMapRef"]["name"])
            env.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
    return env


def load(directory: Path = DEPLOY_DIR, deployment: str | None = None) -> Manifest:
    """The Deployment (the only one, or the one named), its ConfigMap and Service."""
    docs = documents(directory)
    dep = _one(docs, "Deployment", deployment)
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    if len(pod["containers"]) != 1:
        raise ManifestError("the simulation runs pods of one container")
    container = pod["containers"][0]
    ports = {p["name"]: int(p["containerPort"]) for p in container.get("ports", []) if "name" in p}
    probes = {
        kind: _probe(kind, container[f"{kind}Probe"], ports) for kind in ("startup", "readiness", "liveness") if f"{kind}Probe" in container
    }
    labels = spec["template"]["metadata"].get("labels", {})
    services = [d for d in docs if d.get("kind") == "Service" and _selects(d["spec"].get("selector", {}), labels)]
    if len(services) != 1:
        raise ManifestError(f"expected one Service selecting the pods, found {len(services)}")
    target = services[0]["spec"]["ports"][0].get("targetPort", services[0]["spec"]["ports"][0]["port"])
    strategy = spec.get("strategy", {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise ManifestError(f"strategy {strategy['type']} is not simulated")
    rolling = strategy.get("rollingUpdate", {})
    template = PodTemplate(
        grace_period=float(pod.get("terminationGracePeriodSeconds", 30)),
        container_ports=ports,
        probes=probes,
        env=_env(container, docs),
        app_port=_port_number(target, ports, "the Service's targetPort"),
    )
    return Manifest(
        name=dep["metadata"]["name"],
        replicas=spec.get("replicas"),
        max_surge=rolling.get("maxSurge", "25%"),
        max_unavailable=rolling.get("maxUnavailable", "25%"),
        min_ready=float(spec.get("minReadySeconds", 0)),
        template=template,
    )


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass
class Timing:
    """Durations of the simulation that are not in the manifests, in manifest seconds
    (multiplied by the same factor as the manifest's)."""

    factor: float = 1.0
    # Each endpoints change reaches the proxy after a random delay in this range.
    propagation_min: float = 0.0
    propagation_max: float = 2.0
    # The kubelet's restart back-off after the first restart (10 s, doubling, 300 s at most).
    backoff_initial: float = 10.0
    backoff_max: float = 300.0

    def s(self, seconds: float) -> float:
        return seconds * self.factor
