"""URL configuration for mysite: everything lives in the demo app."""

from django.urls import include, path

urlpatterns = [
    path("", include("demo.urls")),
]
