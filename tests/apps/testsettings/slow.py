"""Settings that take a while to import (SLOW_SETTINGS_SECONDS, default 30), as those of a
project that reads a secret store or waits for DNS at import time."""

import os
import time

from mysite.settings import *  # noqa: F401,F403

time.sleep(float(os.environ.get("SLOW_SETTINGS_SECONDS", "30")))
