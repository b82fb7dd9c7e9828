"""
Settings for serving mysite's static files with whitenoise (`gunicorn
mysite.wsgi` with DJANGO_SETTINGS_MODULE=mysite.settings_whitenoise).

This module exists for the static-file benchmark (`cargo xtask bench
--scenarios static`), which compares hurricane's `--static` with whitenoise:
WhiteNoiseMiddleware sits right after SecurityMiddleware, as whitenoise's
documentation says, and serves STATIC_ROOT (DJANGO_STATIC_ROOT) under
STATIC_URL. Everything else is the example project's settings, unchanged.
"""

from .settings import *  # noqa: F401,F403
from .settings import MIDDLEWARE

_SECURITY = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")

MIDDLEWARE = [
    *MIDDLEWARE[: _SECURITY + 1],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_SECURITY + 1 :],
]
