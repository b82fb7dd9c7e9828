"""Settings whose import waits while the file HOLD_STARTUP_FILE names exists, as
those of a project whose start-up waits for a secret to be mounted or a database to
answer: a process started while the file exists serves only once it is removed."""

import os
import time

from mysite.settings import *  # noqa: F401,F403

_HOLD = os.environ.get("HOLD_STARTUP_FILE", "")
while _HOLD and os.path.exists(_HOLD):
    time.sleep(0.05)
