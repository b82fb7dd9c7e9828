"""probetest's URLs (/wedge and mysite's) plus Django views under the file prefixes."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("static/django-view", views.django_view),
    path("media/django-view", views.django_view),
    path("s/django-view", views.django_view),
    path("", include("probetest.urls")),
]
