from django.urls import path

from . import views

urlpatterns = [
    path("hello", views.hello),
    path("echo", views.echo),
    path("meta", views.meta),
    path("stream", views.stream),
    path("file", views.file),
    path("error", views.error),
    path("sleep", views.sleep),
    path("spin", views.spin),
    path("items", views.items),
]
