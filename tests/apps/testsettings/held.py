"""Settings whose import waits, as those of a project whose start-up waits for a secret
to be mounted or a database to answer:
- while the file HOLD_STARTUP_FILE names exists (every process started meanwhile
  serves once it is removed);
- until it can take one of the files in the directory HOLD_STARTUP_TOKENS names (each
  file lets one process start, so a test can start a pod's processes one by one)."""

import os
import time

from mysite.settings import *  # noqa: F401,F403

_HOLD = os.environ.get("HOLD_STARTUP_FILE", "")
while _HOLD and os.path.exists(_HOLD):
    time.sleep(0.05)


def _take_token(directory: str) -> bool:
    for name in sorted(os.listdir(directory)):
        try:
            os.remove(os.path.join(directory, name))
            return True
        except FileNotFoundError:  # another process took it first
            continue
    return False


_TOKENS = os.environ.get("HOLD_STARTUP_TOKENS", "")
while _TOKENS and not _take_token(_TOKENS):
    time.sleep(0.05)
