from django.apps import AppConfig


class ProbetestConfig(AppConfig):
    name = "probetest"

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
