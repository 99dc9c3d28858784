"""Where "now" comes from: one clock per process, handed to everything that asks.

Every part of a process (the loader dating postings, the web deciding expiry,
the metrics, the worker scheduling retries) reads the same ``Clock``, built
once by the factory. Tests hand in a clock they move by hand, so no part can
disagree with another about the moment. Two things deliberately do not use it:
intervals (``time.monotonic``, which no clock change can move) and the
``webhook-timestamp`` of an attempt, which a receiver checks against its own
wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, timezone-aware, in UTC."""
    return datetime.now(UTC)
