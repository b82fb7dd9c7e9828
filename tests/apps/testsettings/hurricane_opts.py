"""testsettings.probes plus settings from the environment, for precedence tests.

    PROBETEST_SETTINGS       a JSON object of settings, e.g. {"HURRICANE_NO_METRICS": true}
    PROBETEST_SETTINGS_PORT  if set, HURRICANE_PORT = int(this)
"""

import json
import os

from testsettings.probes import *  # noqa: F401,F403

globals().update(json.loads(os.environ.get("PROBETEST_SETTINGS", "{}")))
if os.environ.get("PROBETEST_SETTINGS_PORT"):
    HURRICANE_PORT = int(os.environ["PROBETEST_SETTINGS_PORT"])
