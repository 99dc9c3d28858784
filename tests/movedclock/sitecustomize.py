"""For a suite run with the system clock moved (Debian's faketime), in every Python process it starts.

libfaketime 0.9.10 cannot both keep ``threading`` timeouts working and fake ``clock_nanosleep``: with
``FAKETIME_DONT_FAKE_MONOTONIC=1`` (which timeouts need) ``time.sleep`` fails with EINVAL. Sleeping on
an event's timeout instead uses the (real) monotonic clock that works. Only the moved-clock run puts
this folder on ``PYTHONPATH`` (see docs/architecture.md, "The suite and the calendar").
"""

import threading
import time

_NEVER_SET = threading.Event()


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _NEVER_SET.wait(seconds)


time.sleep = _sleep
