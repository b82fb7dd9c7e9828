"""System checks the probes run, switched by flag files in $PROBETEST_FLAGS.

| flag file          | effect                                                       |
|--------------------|--------------------------------------------------------------|
| liveness           | the `liveness`-tagged check returns an Error (probetest.E001) |
| liveness-warning   | the `liveness`-tagged check returns a Warning (probetest.W001) |
| readiness          | the `readiness`-tagged deploy check returns an Error (probetest.E002) |
| other              | a check tagged only `probetest-other` returns an Error (probetest.E003) |
| database-down      | the `flakydb` database backend refuses to connect and to execute |

Each check touches `<flag dir>/<tag>.ran` whenever it runs, so a test can tell
that the checks ran after it changed a flag.
"""

import os
from pathlib import Path

from django.core.checks import Error, Warning, register


def flag_dir():
    value = os.environ.get("PROBETEST_FLAGS")
    return Path(value) if value else None


def flag(name):
    d = flag_dir()
    return d is not None and (d / name).exists()


def ran(tag):
    d = flag_dir()
    if d is not None and d.is_dir():
        (d / f"{tag}.ran").write_text(str(os.getpid()))


@register("liveness")
def liveness_check(app_configs, **kwargs):
    ran("liveness")
    if flag("liveness"):
        return [Error("liveness broken by the test", hint="remove the liveness flag", id="probetest.E001")]
    if flag("liveness-warning"):
        return [Warning("liveness only warned by the test", id="probetest.W001")]
    return []


@register("readiness", deploy=True)
def readiness_check(app_configs, **kwargs):
    # deploy=True: only runs when deployment checks are included, as the probes do.
    ran("readiness")
    if flag("readiness"):
        return [Error("readiness broken by the test", hint="remove the readiness flag", id="probetest.E002")]
    return []


@register("probetest-other", deploy=True)
def other_check(app_configs, **kwargs):
    # Neither tagged liveness nor readiness: no probe may run it.
    ran("other")
    if flag("other"):
        return [Error("a check no probe runs", id="probetest.E003")]
    return []
