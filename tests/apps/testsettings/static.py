"""mysite + probetest (/wedge) + statictest, with the static/media settings from the
environment, for tests/test_static*.py.

ROOT_URLCONF is statictest.urls: probetest's URLs plus Django views at
/static/django-view, /media/django-view and /s/django-view.

Environment (all optional; "unset" means the setting keeps Django's/mysite's default):
    STATICTEST_STATIC_URL         STATIC_URL (default mysite's "static/"; may be "")
    STATICTEST_STATIC_ROOT        STATIC_ROOT (unset: None, not mysite's default; may be "")
    STATICTEST_MEDIA_URL          MEDIA_URL (default "media/"; may be "")
    STATICTEST_MEDIA_ROOT         MEDIA_ROOT (unset: Django's default ""; may be "")
    STATICTEST_DEBUG              "1": DEBUG = True (else mysite's, i.e. DJANGO_DEBUG)
    STATICTEST_STATICFILES_DIRS   JSON list for STATICFILES_DIRS; an item is a directory
                                  or a [prefix, directory] pair
    STATICTEST_MANIFEST           "1": the staticfiles storage is
                                  ManifestStaticFilesStorage (collectstatic writes
                                  hashed copies and staticfiles.json)
    STATICTEST_NO_STATICFILES     "1": django.contrib.staticfiles is not installed
    STATICTEST_SETTINGS           a JSON object of further settings, applied last,
                                  e.g. {"HURRICANE_STATIC": true}
    PROBETEST_FLAGS               see probetest (the /wedge view touches wedge.started there)
"""

import json
import os

from mysite.settings import *  # noqa: F401,F403
from mysite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "probetest", "statictest"]
if os.environ.get("STATICTEST_NO_STATICFILES") == "1":
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django.contrib.staticfiles"]
ROOT_URLCONF = "statictest.urls"

if "STATICTEST_STATIC_URL" in os.environ:
    STATIC_URL = os.environ["STATICTEST_STATIC_URL"]
STATIC_ROOT = os.environ.get("STATICTEST_STATIC_ROOT")  # not mysite's default
MEDIA_URL = os.environ.get("STATICTEST_MEDIA_URL", "media/")
if "STATICTEST_MEDIA_ROOT" in os.environ:
    MEDIA_ROOT = os.environ["STATICTEST_MEDIA_ROOT"]
if os.environ.get("STATICTEST_DEBUG") == "1":
    DEBUG = True
if os.environ.get("STATICTEST_STATICFILES_DIRS"):
    STATICFILES_DIRS = [
        item if isinstance(item, str) else tuple(item) for item in json.loads(os.environ["STATICTEST_STATICFILES_DIRS"])
    ]
if os.environ.get("STATICTEST_MANIFEST") == "1":
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

globals().update(json.loads(os.environ.get("STATICTEST_SETTINGS", "{}")))
