"""Fails Django's system checks: caches.E001 (no 'default' cache)."""

from mysite.settings import *  # noqa: F401,F403

CACHES = {}
