"""Sending one webhook attempt, and deciding what happens after it.

Only this module touches the HTTP client. One attempt: sign the stored bytes
with a fresh timestamp, POST them with connect and total timeouts, never follow
a redirect, read at most a small excerpt of the answer. The outcome is a pure
function of the answer: 2xx succeeded; 410 disables the board; 429/503 with
``Retry-After`` wait as asked; anything else retries on the schedule, with
jitter, until the schedule runs out and the delivery is failed (kept, replayable).
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import NameResolutionError

from .webhook import signed_headers

EXCERPT_BYTES = 512
RETRY_AFTER_CAP = timedelta(hours=24)
JITTER = 0.2


@dataclass(frozen=True)
class Policy:
    schedule: tuple[float, ...]  # seconds before attempt 1, 2, ... (the first is usually 0)
    connect_timeout: float
    total_timeout: float

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)


@dataclass(frozen=True)
class Answer:
    """What one attempt got back."""

    status: int | None
    duration_ms: float
    error_class: str | None  # None: 2xx; http: another status; dns, connect, timeout, tls: no answer
    excerpt: str | None
    retry_after: str | None = None


def classify(exc: BaseException) -> str:
    """dns / connect / timeout / tls for an exception raised before any answer arrived."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # requests wraps urllib3 wraps socket errors
        seen.add(id(cause))
        if isinstance(cause, (NameResolutionError, socket.gaierror)):
            return "dns"
        if isinstance(cause, (requests.exceptions.SSLError, ssl.SSLError)):
            return "tls"
        if isinstance(cause, (requests.exceptions.Timeout, TimeoutError, socket.timeout)):
            return "timeout"
        cause = (
            cause.__cause__
            or cause.__context__
            or (cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None)
        )
    return "connect"


def send(
    session: requests.Session,
    url: str,
    secret: str,
    webhook_id: str,
    body: bytes,
    policy: Policy,
    clock: Callable[[], datetime],
) -> Answer:
    """One signed POST of ``body``; never raises for network trouble."""
    headers = signed_headers(secret, webhook_id, body, clock())  # the real time of this attempt
    started = time.perf_counter()
    deadline = started + policy.total_timeout
    try:
        with session.post(
            url,
            data=body,
            headers=headers,
            timeout=(policy.connect_timeout, policy.total_timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            excerpt = bytearray()
            for chunk in response.iter_content(EXCERPT_BYTES):
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES or time.perf_counter() > deadline:
                    break  # enough to show an operator; the rest is not read
            duration = (time.perf_counter() - started) * 1000
            ok = 200 <= response.status_code < 300
            return Answer(
                response.status_code,
                duration,
                None if ok else "http",
                excerpt[:EXCERPT_BYTES].decode("utf-8", "replace") or None,
                response.headers.get("Retry-After"),
            )
    except requests.RequestException as exc:
        duration = (time.perf_counter() - started) * 1000
        return Answer(None, duration, classify(exc), f"{type(exc).__name__}: {exc}"[:EXCERPT_BYTES])


def retry_after_delay(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date, capped at a day; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.isdigit():
            delay = timedelta(seconds=min(int(value[:12]), int(RETRY_AFTER_CAP.total_seconds())))
        else:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                return None
            delay = when - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(timedelta(0), min(delay, RETRY_AFTER_CAP))


@dataclass(frozen=True)
class Decision:
    state: str  # succeeded | pending | failed
    next_attempt_at: datetime | None
    disable_reason: str | None = None
    count: bool = True  # whether the attempt uses up one of the schedule's


def decide(answer: Answer, attempts_done: int, policy: Policy, now: datetime, rng: random.Random) -> Decision:
    """What follows an attempt; ``attempts_done`` includes this one."""
    if answer.error_class is None:
        return Decision("succeeded", None)
    if answer.status == 410:
        # the board says it is gone: it is disabled, and this delivery waits for it unspent
        return Decision("pending", now, disable_reason=f"410 Gone at {now.isoformat()}", count=False)
    if attempts_done >= policy.max_attempts:
        return Decision("failed", None)
    base = policy.schedule[attempts_done]
    delay = timedelta(seconds=base * (1 + rng.uniform(-JITTER, JITTER)))
    if answer.status in (429, 503):
        # the board asks for a pause: wait at least that long (and never less than the schedule,
        # so a board answering "Retry-After: 0" cannot use up the attempts in a moment)
        asked = retry_after_delay(answer.retry_after, now)
        if asked is not None:
            delay = max(delay, asked)
    return Decision("pending", now + delay)
