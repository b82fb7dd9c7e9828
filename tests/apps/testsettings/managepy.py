from mysite.settings import *  # noqa: F401,F403
from mysite.settings import MIDDLEWARE

SETTINGS_MARKER = "managepy"
MIDDLEWARE = ["testsettings.marker.SettingsMarkerMiddleware", *MIDDLEWARE]
