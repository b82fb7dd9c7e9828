"""Copies of the example project, so that no test writes into the source tree and
no run sees state from an earlier one.

- `copy_mysite`: examples/mysite with a freshly migrated SQLite database;
- `make_site`: a private copy of that (the reload tests edit its files), with one
  more view, /pid, answering the process id of the child that serves it;
- `add_view`: one more view in such a copy;
- `set_hello` / `views_source`: demo/views.py with /hello answering another text (a
  real edit of a view, as a developer saves it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from support.env import EXAMPLE, LAUNCHER, VENV_PYTHON, base_env

ORIGINAL_HELLO = "Hello, world!"

PID_VIEW = '''

def pid(request):
    """The id of the process serving this request (added by tests/support/projects.py)."""
    import os

    return HttpResponse(str(os.getpid()), content_type="text/plain")
'''

# demo/views.py of each site as make_site left it (the base of every edit).
_PRISTINE_VIEWS: dict[Path, str] = {}


def copy_mysite(dest: Path) -> Path:
    """Copy examples/mysite to `dest` and run `manage.py migrate` there. Under the
    Python package's launchers the copy has "hurricane" in INSTALLED_APPS, as the
    package's users add it (`manage.py serve` is the app's command)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__", "*.pyc"))
    if LAUNCHER != "binary":
        settings = dest / "mysite" / "settings.py"
        settings.write_text(settings.read_text() + '\nINSTALLED_APPS = [*INSTALLED_APPS, "hurricane"]\n')
    proc = subprocess.run(
        [str(VENV_PYTHON), "manage.py", "migrate", "--noinput"],
        cwd=dest,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"manage.py migrate failed:\n{proc.stdout}\n{proc.stderr}"
    return dest


def make_site(mysite: Path, dest: Path) -> Path:
    """Copy the migrated example project to `dest` and add the /pid view."""
    shutil.copytree(mysite, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "staticfiles"))
    add_view(dest, "pid", PID_VIEW)
    return dest


def add_view(site: Path, name: str, source: str):
    """Append the view function `name` (its `source`) to demo/views.py of `site` and
    route /`name` to it; later edits of /hello keep it."""
    views = site / "demo" / "views.py"
    views.write_text(views.read_text() + source)
    _PRISTINE_VIEWS[site.resolve()] = views.read_text()
    urls = site / "demo" / "urls.py"
    text = urls.read_text()
    assert text.rstrip().endswith("]"), text
    urls.write_text(text.rstrip()[:-1] + f'    path("{name}", views.{name}),\n]\n')


def views_source(site: Path, hello: str) -> str:
    """demo/views.py of `site` (as make_site left it) with /hello answering `hello`."""
    text = _PRISTINE_VIEWS[site.resolve()]
    new, n = re.subn(r'(def hello\(request\):\n(?:    .*\n)*?    return HttpResponse\()("[^"]*")', lambda m: m.group(1) + json.dumps(hello), text)
    assert n == 1, "cannot find the text of /hello in demo/views.py"
    return new


def set_hello(site: Path, hello: str, extra: str = ""):
    """Save demo/views.py with /hello answering `hello` (and `extra` appended)."""
    (site / "demo" / "views.py").write_text(views_source(site, hello) + extra)
