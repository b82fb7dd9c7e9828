"""
Django settings for the mysite example project, served by hurricane.

Deliberately small. A few values come from the environment so the same file
works for local development and in a container:

    DJANGO_SECRET_KEY   the secret key (an insecure default is used when unset)
    DJANGO_DEBUG        "1"/"true" turns DEBUG on (off by default)
    DJANGO_STATIC_ROOT  where `manage.py collectstatic` puts the static files
                        (default: staticfiles/ next to manage.py)

See https://docs.djangoproject.com/en/5.2/ref/settings/
"""

import os
from pathlib import Path

# Build paths inside the project like this: BASE_DIR / "subdir".
BASE_DIR = Path(__file__).resolve().parent.parent

# SECURITY WARNING: set DJANGO_SECRET_KEY in production; the default is public.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-mysite-example-key-do-not-use-in-production"
)

# SECURITY WARNING: don't run with debug turned on in production!
DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() in ("1", "true", "yes", "on")

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "[::1]"]


# Application definition

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
            ],
        },
    },
]

WSGI_APPLICATION = "mysite.wsgi.application"


# Database: one SQLite file next to manage.py (create it with `manage.py migrate`).

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}


# Internationalization

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# Static files (CSS, JavaScript, Images)

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# Logging: everything at WARNING and above goes to stderr, which is where
# hurricane writes its own logs. With DEBUG off, Django would otherwise only
# e-mail the traceback of a failing view to ADMINS.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
}
