"""mysite's URLs plus /wedge."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("wedge", views.wedge),
    path("", include("mysite.urls")),
]
