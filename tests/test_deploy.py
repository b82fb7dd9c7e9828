"""deploy/: the Kubernetes manifests and the Dockerfile a Django team starts from.

- Every document `kubectl apply -k deploy/kubernetes` would send, the migration Job
  and the commented queue-length autoscaler validate strictly against the Kubernetes
  API's schemas, offline (kubernetes-validate; tests/support/kustomize.py assembles
  the base as kubectl does, and matches `kubectl kustomize` where kubectl exists).
- The manifests agree with hurricane's options in their ConfigMap: ports, probe
  paths, the grace period against the drain, probe timeouts, selectors, the user.
- The Dockerfile's steps, run as written on the example project with the wheel built
  from this checkout, give a server that waits for the migration Job, passes the
  manifest's probes, serves, writes nothing into the venv or the project (the
  read-only root filesystem), and drains on SIGTERM within the grace period.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from support import dockerfile, kustomize
from support.client import ConnectionClosed, Reader, build, connect, request, send
from support.env import EXAMPLE, LAUNCHER, REPO, free_port
from support.poll import poll_until
from support.probes import metric_families, sample_value
from support.server import run_hurricane

DEPLOY = REPO / "deploy"
BASE = DEPLOY / "kubernetes"
JOB = BASE / "migrate-job.yaml"
HPA = BASE / "hpa.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
# 1.33: the oldest release the manifests are written for (every field they use is GA
# there); 1.37: the newest kubernetes-validate 1.37.0 has schemas for.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
# The database connections a deployment may open: PostgreSQL's default max_connections.
DATABASE_CONNECTIONS = 100
PROBES = {"startupProbe": "HURRICANE_STARTUP_PROBE", "readinessProbe": "HURRICANE_READINESS_PROBE", "livenessProbe": "HURRICANE_LIVENESS_PROBE"}


# -- the manifests -------------------------------------------------------------------
@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return kustomize.build(BASE)


def the(documents: list[dict], kind: str) -> dict:
    found = [d for d in documents if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {[d['metadata'].get('name') for d in found]}"
    return found[0]


def web_container(manifests: list[dict]) -> dict:
    containers = the(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    return containers[0]


def job() -> dict:
    return yaml.safe_load(JOB.read_text())


def queue_autoscaler() -> dict:
    """The HorizontalPodAutoscaler hpa.yaml shows in comments, after its `# ---`."""
    text = HPA.read_text()
    assert "\n# ---\n" in text, f"{HPA} lost the commented autoscaler on the request queue"
    lines = text.split("\n# ---\n", 1)[1].splitlines()
    assert all(line.startswith("#") for line in lines if line), "the commented autoscaler ends the file, every line commented"
    return yaml.safe_load("\n".join(line[2:] for line in lines))


def adapter_gauge() -> str:
    """The gauge prometheus-adapter's rule in hpa.yaml's comments asks Prometheus for."""
    found = re.findall(r"seriesQuery: '(\w+)\{", HPA.read_text())
    assert len(found) == 1, f"one prometheus-adapter rule expected in {HPA}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def options(manifests) -> dict[str, str]:
    """The ConfigMap's HURRICANE_* values over the defaults `hurricane serve --help` shows."""
    help_text = run_hurricane(["serve", "--help"], cwd=REPO).stdout
    defaults = dict(re.findall(r"\[env: (HURRICANE_\w+)=\]\s*\[default: ([^\]]*)\]", help_text))
    assert defaults.get("HURRICANE_PROBE_TIMEOUT"), f"no defaults read from `hurricane serve --help`:\n{help_text}"
    data = the(manifests, "ConfigMap")["data"]
    unknown = sorted(k for k in data if k.startswith("HURRICANE_") and f"[env: {k}=]" not in help_text)
    assert not unknown, f"the ConfigMap sets options hurricane does not have: {unknown}"
    return {**defaults, **data}


def port_number(container: dict, port: int | str) -> int:
    """A port given by number or by the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert numbers, f"container {container['name']} has no port named {port!r}"
    return numbers[0]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def as_file(document: dict, directory: Path) -> Path:
    path = directory / f"{document['kind'].lower()}-{document['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def validate(paths: list[Path], version: str) -> subprocess.CompletedProcess:
    assert KUBERNETES_VALIDATE.exists(), f"{KUBERNETES_VALIDATE} is missing: pip install -r requirements/test.txt"
    return subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", "--kubernetes-version", version, *map(str, paths)], capture_output=True, text=True, timeout=120
    )


def every_document(manifests: list[dict]) -> list[dict]:
    """What kubectl applies, the Job (named as the API server would name it from its
    generateName, which kubernetes-validate cannot read) and the commented autoscaler."""
    migrate = job()
    migrate["metadata"]["name"] = migrate["metadata"].pop("generateName") + "x7k2p"
    autoscaler = queue_autoscaler()
    autoscaler["metadata"]["name"] += "-queue"
    return [*manifests, migrate, autoscaler]


# -- (a) valid Kubernetes objects --------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly(manifests, tmp_path, version):
    documents = every_document(manifests)
    paths = [as_file(d, tmp_path) for d in documents]
    result = validate(paths, version)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"kubernetes-validate --strict -k {version} failed:\n{output}"
    assert output.count(" passed ") == len(documents), output


def test_strict_validation_rejects_an_unknown_field(manifests, tmp_path):
    """The validation above can fail: a misspelt field is an error, not ignored."""
    deployment = copy.deepcopy(the(manifests, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {"periodSeconds": 5}
    result = validate([as_file(deployment, tmp_path)], KUBERNETES_VERSIONS[-1])
    assert result.returncode != 0, result.stdout
    assert "readinessprobe" in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_assembly_is_what_kubectl_kustomize_renders(manifests):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the assembly is not compared with `kubectl kustomize`")
    result = subprocess.run([kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d is not None]

    def key(doc):
        return (doc["kind"], doc["metadata"]["name"])

    assert sorted(rendered, key=key) == sorted(manifests, key=key)


# -- (b) manifests and hurricane's options agree ------------------------------------------
def test_ports_and_probe_paths_are_hurricanes(manifests, options):
    assert {"HURRICANE_PORT", "HURRICANE_PROBE_PORT"} <= set(the(manifests, "ConfigMap")["data"]), "the ConfigMap names both ports"
    app_port, probe_port = int(options["HURRICANE_PORT"]), int(options["HURRICANE_PROBE_PORT"])
    container = web_container(manifests)
    assert {p["containerPort"] for p in container["ports"]} == {app_port, probe_port}
    for probe, option in PROBES.items():
        get = container[probe]["httpGet"]
        assert port_number(container, get["port"]) == probe_port, f"{probe} is not on HURRICANE_PROBE_PORT"
        assert get["path"] == options[option], f"{probe} asks {get['path']}, hurricane answers {options[option]}"
    annotations = the(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (str(probe_port), options["HURRICANE_METRICS"])
    service_ports = the(manifests, "Service")["spec"]["ports"]
    assert [port_number(container, p["targetPort"]) for p in service_ports] == [app_port], "the Service exposes the app port only"


def test_the_grace_period_outlasts_the_drain(manifests, options):
    grace = the(manifests, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    drain = float(options["HURRICANE_SHUTDOWN_DELAY"]) + float(options["HURRICANE_GRACEFUL_TIMEOUT"])
    assert grace > drain, f"terminationGracePeriodSeconds {grace} <= shutdown delay + graceful timeout {drain}: SIGKILL mid-drain"
    assert "preStop" not in web_container(manifests).get("lifecycle", {}), "a preStop hook would delay SIGTERM past the grace arithmetic"


def test_probes_wait_longer_than_hurricanes_checks(manifests, options):
    container = web_container(manifests)
    for probe in PROBES:
        timeout = container[probe].get("timeoutSeconds", 1)  # Kubernetes' default
        assert timeout > float(options["HURRICANE_PROBE_TIMEOUT"]), f"{probe}: timeoutSeconds {timeout} <= HURRICANE_PROBE_TIMEOUT"


def test_selectors_pick_the_web_pods_only(manifests):
    deployment = the(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": deployment["spec"]["selector"]["matchLabels"],
        "Service": the(manifests, "Service")["spec"]["selector"],
        "PodDisruptionBudget": the(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    }
    job_labels = job()["spec"]["template"]["metadata"]["labels"]
    for owner, selector in selectors.items():
        assert selects(selector, pod_labels), f"the {owner} does not select the web pods"
        assert not selects(selector, job_labels), f"the {owner} selects the migration Job's pod"
    target = the(manifests, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def test_database_connections_stay_below_the_database_limit(manifests, options):
    most_pods = the(manifests, "HorizontalPodAutoscaler")["spec"]["maxReplicas"]
    connections = most_pods * int(options["HURRICANE_WORKERS"])
    assert connections < DATABASE_CONNECTIONS, f"{most_pods} pods x HURRICANE_WORKERS = {connections} connections"


def test_the_pods_run_as_the_images_user_on_a_read_only_root(manifests):
    users = [i.args for i in dockerfile.parse(DOCKERFILE) if i.keyword == "USER"]
    assert len(users) == 1, users
    uid = int(users[0].split(":")[0])
    for pod in (the(manifests, "Deployment")["spec"]["template"]["spec"], job()["spec"]["template"]["spec"]):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid, "runAsUser is not the Dockerfile's USER"
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, f"{container['name']}: /tmp is not a writable emptyDir"


def test_the_migration_job_runs_the_web_pods_image_and_options(manifests):
    migrate = job()
    container = migrate["spec"]["template"]["spec"]["containers"][0]
    web = yaml.safe_load((BASE / "deployment.yaml").read_text())["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == web["image"], "kustomization.yaml's images rule would not cover the Job"
    assert container["envFrom"] == web["envFrom"]
    # The README and the Job's own comment set the release's image with this sed.
    assert re.search(r"^\s*image: mysite$", JOB.read_text(), re.M), "`sed 's|image: mysite$|...|'` would not find the image"
    assert migrate["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# -- (c) the Dockerfile's steps, run ------------------------------------------------------
# What a build or a pod would take from the machine: pip's own configuration (an index,
# certificates, proxies), as `docker build` gets it through build arguments.
HOST_VARIABLES = re.compile(r"PIP_\w+|(?i:https?_proxy|no_proxy)|SSL_CERT_\w+|REQUESTS_CA_BUNDLE")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def local_wheel() -> Path:
    """The hurricane-server wheel built from this checkout for the running Python."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheels = sorted((REPO / "target" / "wheels").glob(f"hurricane_server-*-{tag}-*.whl"), key=lambda w: w.stat().st_mtime)
    if not wheels:
        pytest.skip(f"no hurricane-server wheel for CPython {version} in target/wheels: build it with `cargo xtask wheel --python {version}`")
    return wheels[-1]


class Image:
    """deploy/Dockerfile's checked steps run on a copy of the example project: /opt/venv
    is a fresh venv of this Python, /app the project, `hurricane-server` the local wheel."""

    def __init__(self, root: Path, wheel: Path):
        self.root = root
        self.project = root / "app"
        shutil.copytree(EXAMPLE, self.project, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__", "*.pyc", "staticfiles"))
        shutil.copy(REPO / "requirements" / "example.txt", self.project / "requirements.txt")
        # `python` of the base image: the interpreter this suite's venv was made from.
        python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        assert python.exists(), f"cannot find the Python {sys.executable} was made from (looked for {python})"
        bin_dir = root / "python-bin"
        bin_dir.mkdir()
        (bin_dir / "python").symlink_to(python)
        self.paths = {"/opt/venv": str(root / "venv"), "/app": str(self.project)}
        self.wheel = wheel
        self.base = {k: v for k, v in os.environ.items() if HOST_VARIABLES.fullmatch(k)}
        self.base |= {"PATH": f"{bin_dir}:{CONTAINER_PATH}", "HOME": str(root / "home"), "LANG": "C.UTF-8"}
        self.env: dict[str, str] = {}
        self.cwd = root
        self.cmd: list[str] | None = None
        self.wheel_installs = 0

    def local(self, text: str) -> str:
        for container_path, path in self.paths.items():
            text = re.sub(re.escape(container_path) + r"(?=/|\b|$)", path, text)
        return text

    def build(self) -> "Image":
        instructions = dockerfile.parse(DOCKERFILE)
        final = max(i.stage for i in instructions)
        unchecked = [str(i) for i in instructions if i.keyword == "RUN" and i.stage < final and not i.checked]
        assert not unchecked, f"every build step is checked here; mark these (# (checked)) or teach this test:\n{unchecked}"
        assert [i.keyword for i in instructions if i.checked][-1] == "CMD", "the CMD is checked"
        for instruction in instructions:
            self.step(instruction)
        assert self.wheel_installs == 1, "no checked step installs hurricane-server: the local wheel was never used"
        return self

    def step(self, instruction: dockerfile.Instruction):
        if instruction.keyword == "FROM":
            self.env, self.cwd = dict(self.base), self.root
        elif instruction.keyword == "ENV":
            self.env |= {k: self.local(v) for k, v in dockerfile.env_pairs(instruction, self.env).items()}
        elif instruction.keyword == "WORKDIR":
            self.cwd = Path(self.local(instruction.args))
        elif instruction.keyword == "CMD":
            self.cmd = [self.local(a) for a in dockerfile.exec_form(instruction)]
        elif instruction.keyword == "RUN" and instruction.checked:
            command, installs = re.subn(r"\bhurricane-server\b(==\S+)?", str(self.wheel), self.local(instruction.args))
            self.wheel_installs += installs
            result = subprocess.run(["/bin/sh", "-c", command], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"{instruction} failed ({command}):\n{result.stdout}\n{result.stderr}"

    def run(self, argv: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
        """`argv` in the image: its working directory, its environment plus `env`."""
        program = shutil.which(argv[0], path=self.env["PATH"])
        assert program, f"{argv[0]} is not on the image's PATH {self.env['PATH']}"
        return subprocess.Popen([program, *argv[1:]], cwd=self.cwd, env={**self.env, **env}, stdin=subprocess.DEVNULL, **kwargs)


def files_of(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under `roots` with its modification time and size, but the example's
    SQLite database (in a cluster the database is a server, not a file in the image)."""
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("db.sqlite3")
    }


def status(port: int, path: str) -> int | None:
    try:
        return request(port, "GET", path, timeout=5).status
    except (OSError, ConnectionClosed):
        return None


class Pod:
    """The image's CMD run with the ConfigMap's environment, on free loopback ports."""

    def __init__(self, image: Image, manifests: list[dict], log: Path):
        self.image = image
        self.container = web_container(manifests)
        self.paths = {probe: self.container[probe]["httpGet"]["path"] for probe in PROBES}
        self.port = free_port()
        self.probe_port = free_port()
        while self.probe_port == self.port:
            self.probe_port = free_port()
        self.env = dict(the(manifests, "ConfigMap")["data"])
        # Only these differ from a pod: loopback and free ports instead of 0.0.0.0:8000/8001.
        self.env |= {"HURRICANE_HOST": "127.0.0.1", "HURRICANE_PORT": str(self.port), "HURRICANE_PROBE_PORT": str(self.probe_port)}
        self.log = log
        with open(log, "wb") as out:
            self.proc = image.run(image.cmd, self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def json_log_says(self, message: str) -> bool:
        """Whether hurricane logged `message` as a JSON line (Django's own lines are
        plain text: Python's logging is not hurricane's)."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and json.loads(line).get("message") == message:
                return True
        return False

    def probe(self, probe: str) -> int | None:
        return status(self.probe_port, self.paths[probe])

    def wait_probe(self, probe: str, expected: int, timeout: float):
        poll_until(lambda: self.probe(probe), timeout, until=lambda s: s == expected, what=f"{self.paths[probe]} to answer {expected}", context=self.tail)

    def migrate(self, migrate_job: dict) -> str:
        """The migration Job's command, in the image, with the same environment."""
        container = migrate_job["spec"]["template"]["spec"]["containers"][0]
        proc = self.image.run(container["command"], self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"the migration Job's {container['command']} failed:\n{out}"
        return out


@pytest.mark.launchers
@pytest.mark.skipif(LAUNCHER == "manage.py", reason="the image runs the console script, whatever the launcher: one run per Python (binary, script) is enough")
def test_the_dockerfile_gives_a_pod_that_waits_for_migrations_serves_and_drains(manifests, options, tmp_path):
    image = Image(tmp_path, local_wheel()).build()
    written_by_the_build = files_of(image.project, Path(image.paths["/opt/venv"]))
    pod = Pod(image, manifests, tmp_path / "pod.log")
    try:
        # HURRICANE_CHECK_MIGRATIONS: no migration applied yet, so the pod is starting.
        pod.wait_probe("startupProbe", 400, timeout=30)
        assert "Applying demo.0001_initial... OK" in pod.migrate(job())
        pod.wait_probe("startupProbe", 200, timeout=30)
        pod.wait_probe("readinessProbe", 200, timeout=10)
        assert pod.probe("livenessProbe") == 200
        assert pod.json_log_says(f"Starting HTTP server on port {pod.port}"), f"HURRICANE_LOG_FORMAT=json:\n{pod.tail()}"
        check_serving(pod, options)
        check_drain(pod, manifests, options)
    finally:
        if pod.proc.poll() is None:
            pod.proc.kill()
            pod.proc.wait(timeout=10)
    # readOnlyRootFilesystem holds: serving wrote nothing in the venv or the project.
    after = files_of(image.project, Path(image.paths["/opt/venv"]))
    changed = sorted(p for p in set(after) | set(written_by_the_build) if after.get(p) != written_by_the_build.get(p))
    assert not changed, f"the pod wrote into its image: {changed[:20]}"


def check_serving(pod: Pod, options: dict[str, str]):
    hello = request(pod.port, "GET", "/hello")
    assert (hello.status, hello.body) == (200, b"Hello, world!"), hello
    # Collected by the build's collectstatic, served by HURRICANE_STATIC (DEBUG is off:
    # Django would answer 404).
    css = request(pod.port, "GET", "/static/demo/site.css")
    assert (css.status, css.body) == (200, (EXAMPLE / "demo" / "static" / "demo" / "site.css").read_bytes()), css
    # What the prometheus-adapter rule in hpa.yaml asks for is on the scraped path.
    metrics = request(pod.probe_port, "GET", options["HURRICANE_METRICS"])
    assert metrics.status == 200, metrics
    gauge = adapter_gauge()
    assert sample_value(metric_families(metrics.body.decode()), gauge, gauge) is not None, f"no {gauge} on /metrics"


def check_drain(pod: Pod, manifests: list[dict], options: dict[str, str]):
    """SIGTERM, as the kubelet sends it (no preStop): readiness fails at once, the app
    serves through the shutdown delay, closing keep-alive connections (an ingress's,
    which kube-proxy keeps routing here), and the process exits 0 before the grace
    period."""
    delay = float(options["HURRICANE_SHUTDOWN_DELAY"])
    grace = the(manifests, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    with connect(pod.port) as keep_alive:
        reader = Reader(keep_alive)
        send(keep_alive, build("GET", "/hello"))
        assert reader.read_response().header("connection") != "close"
        sent = time.monotonic()
        pod.proc.send_signal(signal.SIGTERM)
        pod.wait_probe("readinessProbe", 503, timeout=2)
        send(keep_alive, build("GET", "/hello"))
        during = reader.read_response()
        served_at = time.monotonic() - sent
        assert during.status == 200 and served_at < delay, f"{during.status} after {served_at:.1f} s of a {delay} s shutdown delay"
        assert during.header("connection") == "close", f"a keep-alive response during the shutdown delay: {during.headers}"
    assert request(pod.port, "GET", "/hello").status == 200, "new connections are served during the delay"
    assert pod.probe("livenessProbe") == 200, "liveness keeps passing while the pod drains"
    try:
        code = pod.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {grace} s (terminationGracePeriodSeconds) after SIGTERM\n{pod.tail()}") from None
    took = time.monotonic() - sent
    assert code == 0, f"exit status {code}\n{pod.tail()}"
    assert delay <= took < grace, f"exited {took:.1f} s after SIGTERM (shutdown delay {delay} s, grace {grace} s)"
