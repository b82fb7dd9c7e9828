"""
ASGI config for mysite project.

It exposes the ASGI callable as a module-level variable named ``application``.
hurricane serves the WSGI one (wsgi.py); this one is for ASGI servers, such as
uvicorn in `cargo xtask bench hello`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_asgi_application()
