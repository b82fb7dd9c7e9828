"""
Settings for `python manage.py serve --settings mysite.settings_manage_py_serve`:
the example project's settings with the `hurricane` app installed, which brings the
`serve` command. Both hurricane's Python package (`pip install hurricane-server`)
and django-hurricane 1.6.2 install an app of that name; the benchmark serves the
project through each with this module (`cargo xtask bench hello` for the first,
`probes` for the second). The `hurricane` binary needs none of it.
"""

from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "hurricane"]
