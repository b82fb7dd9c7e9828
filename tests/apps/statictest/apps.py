from django.apps import AppConfig


class StatictestConfig(AppConfig):
    name = "statictest"
