"""An INSTALLED_APPS entry that does not exist: django.setup() fails."""

from mysite.settings import *  # noqa: F401,F403
from mysite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "hurricane_test_missing_app"]
