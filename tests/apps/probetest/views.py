import json
import math
import re
import time

from django.http import HttpResponse

from .checks import flag_dir

# A catastrophic regular expression: matching "a" * n + "!" backtracks through
# about 2**n ways of splitting the a's, all inside one C call of the `re` module,
# which never releases the GIL. Every +1 on n doubles the time.
WEDGE = re.compile(r"(a+)+$")
_calibration = None


def _time_match(n):
    start = time.perf_counter()
    WEDGE.match("a" * n + "!")
    return time.perf_counter() - start


def _calibrate():
    """(n0, seconds) for the smallest n0 whose match takes at least 50 ms."""
    global _calibration
    if _calibration is None:
        n = 12
        while True:
            took = _time_match(n)
            if took >= 0.05 or n >= 40:
                _calibration = (n, took)
                break
            n += 1
    return _calibration


def wedge(request):
    """Hold the GIL, without ever releasing it, for about `seconds` seconds
    (within a factor of ~1.4: n only moves in steps that double the time).

    Touches <flag dir>/wedge.started right before the long match."""
    seconds = float(request.GET.get("seconds", 3))
    n0, t0 = _calibrate()
    n = n0 + max(0, round(math.log2(seconds / t0)))
    d = flag_dir()
    if d is not None:
        (d / "wedge.started").write_text(str(time.time()))
    took = _time_match(n)
    return HttpResponse(json.dumps({"n": n, "seconds": took}), content_type="application/json")
