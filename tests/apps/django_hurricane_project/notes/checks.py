"""A check that django-hurricane's liveness probe runs (tag "liveness"): it fails while
the file named by NOTES_BROKEN_FLAG exists."""

import os

from django.core.checks import Error, register


@register("liveness")
def notes_storage_is_healthy(app_configs, **kwargs):
    flag = os.environ.get("NOTES_BROKEN_FLAG")
    if flag and os.path.exists(flag):
        return [Error("notes storage is broken", id="notes.E001")]
    return []
