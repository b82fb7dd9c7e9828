"""Middleware that tells the client which settings module is in use."""

from django.conf import settings


def SettingsMarkerMiddleware(get_response):
    def middleware(request):
        response = get_response(request)
        response["X-Settings-Marker"] = settings.SETTINGS_MARKER
        return response

    return middleware
