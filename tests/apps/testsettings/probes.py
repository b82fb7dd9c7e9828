"""mysite + the probetest app (checks, management commands, /wedge).

Environment (all optional):
    PROBETEST_DB         path of the default SQLite database (e.g. a fresh, unmigrated file)
    PROBETEST_FLAKY_DB   path of an SQLite file for a second alias "other" on the
                         probetest.flakydb backend (fails while the database-down flag exists)
    PROBETEST_BAD_MIGRATION  if set, the app "badmigration" (a migration that raises) is installed
"""

import os

from mysite.settings import *  # noqa: F401,F403
from mysite.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "probetest"]
if os.environ.get("PROBETEST_BAD_MIGRATION"):
    INSTALLED_APPS.append("badmigration")
ROOT_URLCONF = "probetest.urls"

DATABASES = {alias: dict(conf) for alias, conf in DATABASES.items()}
if os.environ.get("PROBETEST_DB"):
    DATABASES["default"]["NAME"] = os.environ["PROBETEST_DB"]
if os.environ.get("PROBETEST_FLAKY_DB"):
    DATABASES["other"] = {"ENGINE": "probetest.flakydb", "NAME": os.environ["PROBETEST_FLAKY_DB"]}
