"""The Django app ``hurricane``: it provides the ``serve`` management command."""

from django.apps import AppConfig


class HurricaneConfig(AppConfig):
    name = "hurricane"
    verbose_name = "hurricane"
