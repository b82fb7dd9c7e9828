"""testsettings.probes with DEBUG = True (probe bodies carry Django's report)."""

from testsettings.probes import *  # noqa: F401,F403

DEBUG = True
