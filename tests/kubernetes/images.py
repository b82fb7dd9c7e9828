"""Images: what a pod's container runs. An image is a copy of the example project
built as deploy/Dockerfile builds it (migrated by the release's Job, static files
collected), whose /hello answers the app version ("v1", "v2"), and the command that
serves it: `hurricane serve` (the image's CMD) or django-hurricane 1.6.2's
`python manage.py serve`.

Each pod gets its own loopback ports for the container ports it declares (its "pod
IP"): `ports` maps a container port to the loopback port the process must listen on.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from support.env import APPS, BIN, REPO, VENV_PYTHON, base_env
from support.projects import copy_mysite, make_site, set_hello

DJANGO_HURRICANE_VENV = Path(os.environ.get("HURRICANE_DJANGO_HURRICANE_VENV", REPO / "target" / "venv-django-hurricane"))
HURRICANE = "hurricane"
DJANGO_HURRICANE = "django-hurricane"


@dataclass
class Image:
    name: str  # e.g. "hurricane:v1"
    server: str  # HURRICANE or DJANGO_HURRICANE
    version: str  # what /hello answers
    project: Path  # the container's working directory (/app)
    env: dict[str, str] = field(default_factory=dict)  # the image's ENV lines
    # The pod's own environment on top (e.g. a flag directory per pod), from its name.
    pod_env: object = None

    def listen_ports(self, template_env: dict[str, str]) -> tuple[int, int]:
        """The (application, probe) container ports the process listens on: hurricane's
        HURRICANE_PORT / HURRICANE_PROBE_PORT from the ConfigMap (defaults 8000, port +
        1), django-hurricane's defaults 8000 / 8001."""
        if self.server == HURRICANE:
            app = int(template_env.get("HURRICANE_PORT", 8000))
            return app, int(template_env.get("HURRICANE_PROBE_PORT", app + 1))
        return 8000, 8001

    def command(self, template_env: dict[str, str], ports: dict[int, int]) -> list[str]:
        """The container's command line; `ports` maps container port -> loopback port
        (the pod's network namespace: container port 8000 is loopback port ports[8000])."""
        app, probe = (str(ports[p]) for p in self.listen_ports(template_env))
        if self.server == HURRICANE:
            return [str(BIN), "serve", "--host", "127.0.0.1", "--port", app, "--probe-port", probe]
        # django-hurricane's serve has no address option: it listens on every interface.
        python = DJANGO_HURRICANE_VENV / "bin" / "python"
        return [str(python), "manage.py", "serve", "--settings", "mysite.settings_manage_py_serve", "--port", app, "--probe-port", probe]

    def environment(self, template_env: dict[str, str], pod_name: str) -> dict[str, str]:
        """The process environment: the user's, the ConfigMap's (envFrom), the image's,
        the pod's. django-hurricane runs with its defaults: the ConfigMap (written for
        hurricane) is not given to it."""
        if self.server == HURRICANE:
            env = base_env(**template_env)
        else:
            env = base_env(venv=False, path_venv=False)
            env["VIRTUAL_ENV"] = str(DJANGO_HURRICANE_VENV)
            env["PATH"] = f"{DJANGO_HURRICANE_VENV / 'bin'}{os.pathsep}{env['PATH']}"
            env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        if self.pod_env is not None:
            env.update(self.pod_env(pod_name))
        return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")


def build_project(dest: Path, version: str) -> Path:
    """The example project, migrated, /hello answering `version`, static files collected
    (the Dockerfile's `collectstatic`), and the SQLite file of probetest's second
    database migrated (pods that use testsettings.probes share it)."""
    base = copy_mysite(dest.parent / f"{dest.name}-base")
    site = make_site(base, dest)
    set_hello(site, version)
    env = base_env()
    _run([str(VENV_PYTHON), "manage.py", "collectstatic", "--noinput", "-v0"], site, env)
    env.update(PYTHONPATH=str(APPS), PROBETEST_FLAKY_DB=str(site / "other.sqlite3"))
    _run([str(VENV_PYTHON), "manage.py", "migrate", "--noinput", "--database", "other", "--settings", "testsettings.probes", "-v0"], site, env)
    return site


def hurricane_image(project: Path, version: str) -> Image:
    return Image(f"hurricane:{version}", HURRICANE, version, project)


def probetest_image(project: Path, version: str, flags_root: Path) -> Image:
    """hurricane serving the project with tests/apps/probetest installed
    (testsettings.probes): /wedge, a readiness-tagged check and a second database
    ("other", the flakydb backend) that goes away while the pod's flag file
    `database-down` exists. Each pod has its own flag directory under `flags_root`."""

    def pod_env(pod: str) -> dict[str, str]:
        flags = flags_root / pod
        flags.mkdir(parents=True, exist_ok=True)
        return {"PROBETEST_FLAGS": str(flags)}

    env = {
        "DJANGO_SETTINGS_MODULE": "testsettings.probes",
        "HURRICANE_PYTHONPATH": str(APPS),
        "PROBETEST_FLAKY_DB": str(project / "other.sqlite3"),
    }
    return Image(f"hurricane-probetest:{version}", HURRICANE, version, project, env, pod_env)


def django_hurricane_image(project: Path, version: str) -> Image:
    return Image(f"django-hurricane:{version}", DJANGO_HURRICANE, version, project)


def django_hurricane_available() -> str | None:
    """None if django-hurricane's venv is there, else why not."""
    if not (DJANGO_HURRICANE_VENV / "bin" / "python").exists():
        return f"no django-hurricane venv at {DJANGO_HURRICANE_VENV} (cargo xtask venv --requirements django-hurricane.txt)"
    return None

