"""
Settings for serving mysite with django-hurricane 1.6.2 (`python manage.py
serve --settings mysite.settings_django_hurricane`).

This module exists for the probe-latency benchmark (`cargo xtask bench
--scenarios probes`), which compares hurricane's probes with django-hurricane's:
django-hurricane's `serve` command only exists with its app installed.
Everything else is the example project's settings, unchanged.
"""

from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "hurricane"]
