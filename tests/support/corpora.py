"""Third-party HTTP test corpora, fetched from PyPI sdists at test time.

    pip download --no-deps --no-binary :all: gunicorn==27.0.1 waitress==3.0.2 -d target/corpora

The sdists are cached in <repo>/target/corpora and unpacked next to the
tarballs; nothing from them is committed. We use:

* gunicorn's request corpus, tests/requests/{valid,invalid}/*.http with the
  expected parse in the matching *.py (MIT licence);
* waitress's functional-test fixture apps, tests/fixtureapps/*.py, imported
  straight from the unpacked sdist (ZPL 2.1).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tarfile
import types
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from support.env import REPO, VENV_PYTHON

CORPORA = REPO / "target" / "corpora"
GUNICORN = "gunicorn==27.0.1"
WAITRESS = "waitress==3.0.2"


def _sdist_dir(spec: str) -> Path:
    name, version = spec.split("==")
    return CORPORA / f"{name}-{version}"


def ensure_sdists() -> None:
    """Download (once) and unpack the two sdists."""
    wanted = [GUNICORN, WAITRESS]
    if all((_sdist_dir(s) / "tests").is_dir() for s in wanted):
        return
    CORPORA.mkdir(parents=True, exist_ok=True)
    missing = [s for s in wanted if not list(CORPORA.glob("{}-{}.tar.gz".format(*s.split("=="))))]
    if missing:
        python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
        proc = subprocess.run(
            [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", *missing, "-d", str(CORPORA)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip download of {missing} failed:\n{proc.stdout}\n{proc.stderr}")
    for spec in wanted:
        name, version = spec.split("==")
        tarball = CORPORA / f"{name}-{version}.tar.gz"
        with tarfile.open(tarball) as tf:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(CORPORA, **kwargs)


def waitress_tests_dir() -> Path:
    """Directory to put on --pythonpath so that `fixtureapps.<name>:app` imports."""
    ensure_sdists()
    return _sdist_dir(WAITRESS) / "tests"


def gunicorn_requests_dir() -> Path:
    ensure_sdists()
    return _sdist_dir(GUNICORN) / "tests" / "requests"


# ---------------------------------------------------------------------------
# gunicorn corpus loader (re-implements tests/treq.py without importing gunicorn)
# ---------------------------------------------------------------------------


def decode_http_file(raw: bytes) -> bytes:
    """The .http files spell CR LF as a literal "\\r\\n" and break lines after it."""
    data = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\000").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i : i + 2] == b"\\x" and i + 3 < len(data):
            try:
                out.append(int(data[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(data[i])
        i += 1
    return bytes(out)


def split_request_uri(uri: str) -> urllib.parse.SplitResult:
    if uri.startswith("//"):  # gunicorn.util.split_request_uri
        parts = urllib.parse.urlsplit("." + uri)
        return parts._replace(path=parts.path[1:])
    return urllib.parse.urlsplit(uri)


def uri(data: str) -> dict:
    parts = split_request_uri(data)
    return {
        "raw": data,
        "scheme": parts.scheme or "",
        "path": parts.path or "",
        "query": parts.query or "",
        "fragment": parts.fragment or "",
    }


class _Config:
    """Stand-in for gunicorn.config.Config: records the non-default settings."""

    def __init__(self):
        self.settings: dict = {}

    def set(self, key, value):
        self.settings[key] = value


@contextlib.contextmanager
def _fake_gunicorn():
    names = ["gunicorn", "gunicorn.config", "gunicorn.http", "gunicorn.http.errors"]
    saved = {n: sys.modules.get(n) for n in names}
    pkg = types.ModuleType("gunicorn")
    pkg.__path__ = []
    config = types.ModuleType("gunicorn.config")
    config.Config = _Config
    http = types.ModuleType("gunicorn.http")
    http.__path__ = []
    errors = types.ModuleType("gunicorn.http.errors")
    errors.__getattr__ = lambda name: type(name, (Exception,), {})
    for n, m in zip(names, [pkg, config, http, errors]):
        sys.modules[n] = m
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


@dataclass
class CorpusCase:
    kind: str  # "valid" or "invalid"
    name: str
    data: bytes
    expect: list  # list of request dicts (valid) or [exception name] (invalid)
    cfg: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


def load_case(http_path: Path) -> CorpusCase:
    py_path = http_path.with_suffix(".py")
    ns = {"__name__": "__config__", "uri": uri, "cfg": _Config()}
    with _fake_gunicorn():
        exec(compile(py_path.read_text(), str(py_path), "exec"), ns)
    req = ns["request"]
    expect = req if isinstance(req, list) else [req]
    if http_path.parent.name == "invalid":
        expect = [e.__name__ if isinstance(e, type) else str(e) for e in expect]
    return CorpusCase(
        kind=http_path.parent.name,
        name=http_path.stem,
        data=decode_http_file(http_path.read_bytes()),
        expect=expect,
        cfg=dict(ns["cfg"].settings),
    )


def load_cases(kind: str) -> list[CorpusCase]:
    base = gunicorn_requests_dir() / kind
    return [load_case(p) for p in sorted(base.glob("*.http"))]
