"""
WSGI config for mysite project.

It exposes the WSGI callable as a module-level variable named ``application``.
hurricane finds it through the WSGI_APPLICATION setting, like runserver does.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
