"""Settings that cannot be imported."""

from mysite.settings import *  # noqa: F401,F403
import hurricane_test_no_such_module  # noqa: E402,F401
