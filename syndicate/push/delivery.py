"""Sending one webhook attempt, and deciding what happens after it.

Only this module touches the HTTP client. One attempt: sign the stored bytes
with a fresh timestamp, POST them with a connect timeout and a hard deadline
on the whole attempt, never follow a redirect, read at most a small excerpt of
the answer. The outcome is a pure function of the answer: 2xx succeeded; 410
disables the board; 429/503 with ``Retry-After`` wait as asked; anything else
retries on the schedule, with jitter, until the schedule runs out and the
delivery is failed (kept, replayable).

The deadline (``SYNDICATE_DELIVERY_TIMEOUT``) covers connecting, TLS, the
headers and the excerpt together: a socket timeout alone restarts with every
byte, so a board dripping one byte a second would hold an attempt for ever. A
watchdog thread shuts the attempt's socket down when its time is up, which ends
any read or write blocked on it at once; the attempt is then a ``timeout``.
(Name resolution happens before there is a socket: it is bounded by the
system resolver's own timeout.)
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import importlib.metadata
import itertools
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

import syndicate
from syndicate.push.webhook import signed_headers
from syndicate.redact import redact_text

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


# --- the hard deadline ------------------------------------------------------------------------------


class Deadline:
    """The sockets one attempt uses, shut down together when its time is up."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return  # the attempt ended in time; its connection may already serve the next one
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._sockets = []


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)  # wakes a recv or send blocked on it, in any thread


class _Watchdog:
    """One thread that expires deadlines in time order (a thread per attempt would cost more than it)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            sooner = not self._heap or deadline.at < self._heap[0][0]
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="delivery-deadlines", daemon=True)
                self._thread.start()
            if sooner:  # deadlines mostly come in time order: the thread is woken only when it must be
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, deadline = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()
_attempt = threading.local()  # the Deadline of the attempt this thread is making


def _watch_current(sock: socket.socket | None) -> None:
    deadline = getattr(_attempt, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """Hands every socket it opens or reuses to the current attempt's deadline."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)  # before TLS: a handshake that drips is cut too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_current(self.sock)  # a kept-alive connection, reused
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections obey the attempt's deadline (``send`` sets it)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


@functools.cache
def package_version() -> str:
    """The installed package's version (its metadata), else ``syndicate.__version__``, else 'unknown'."""
    try:
        return importlib.metadata.version("syndicate")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return str(getattr(syndicate, "__version__", "unknown"))


def user_agent(site_url: str) -> str:
    """``syndicate/0.1.0 (+https://jobs.example)``: who sends, and where to read about it, as Svix and
    GitHub name their webhook senders (a board can tell them apart in its logs, or allow them by name)."""
    return f"syndicate/{package_version()} (+{site_url})"


def new_session(agent: str) -> requests.Session:
    """A session for webhook attempts, sending ``User-Agent: agent``: deadlines enforced, nothing taken
    from the environment."""
    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment for webhook calls
    session.headers["User-Agent"] = agent  # instead of python-requests/x.y
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --- one attempt ---------------------------------------------------------------------------------------


def send(
    session: requests.Session,
    url: str,
    secret: str,
    webhook_id: str,
    body: bytes,
    policy: Policy,
    clock: Callable[[], datetime],
) -> Answer:
    """One signed POST of ``body`` within ``policy.total_timeout`` in all; never raises for network trouble.
    Error excerpts never carry the URL's credentials or query values."""
    headers = signed_headers(secret, webhook_id, body, clock())  # the real time of this attempt
    return post(session, url, body, headers, policy)


@contextlib.contextmanager
def deadline_of(policy: Policy) -> Iterator[Deadline]:
    """Every socket this thread opens or reuses inside the block is shut down once
    ``policy.total_timeout`` has passed (a token fetch and the call it is for share one deadline)."""
    outer = getattr(_attempt, "deadline", None)
    if outer is not None:  # already inside one: the outer deadline covers this too
        yield outer
        return
    deadline = Deadline(time.monotonic() + policy.total_timeout)
    _attempt.deadline = deadline
    _WATCHDOG.add(deadline)
    try:
        yield deadline
    finally:
        deadline.finish()
        _attempt.deadline = None


def current_deadline() -> Deadline:
    """The deadline of the attempt this thread is in (a fresh, unexpired one outside any)."""
    return getattr(_attempt, "deadline", None) or Deadline(float("inf"))


def post(session: requests.Session, url: str, body: bytes, headers: dict[str, str], policy: Policy) -> Answer:
    """One POST of ``body`` with ``headers`` under the attempt's deadline (every channel sends through
    it); never raises for network trouble."""
    started = time.perf_counter()
    with deadline_of(policy) as deadline:
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
                    if len(excerpt) >= EXCERPT_BYTES:
                        break  # enough to show an operator; the rest is not read
                if deadline.expired:
                    raise requests.Timeout("the answer did not finish within the deadline")
                duration = (time.perf_counter() - started) * 1000
                ok = 200 <= response.status_code < 300
                return Answer(
                    response.status_code,
                    duration,
                    None if ok else "http",
                    excerpt[:EXCERPT_BYTES].decode("utf-8", "replace") or None,
                    response.headers.get("Retry-After"),
                )
        except (requests.RequestException, OSError) as exc:
            return failure(exc, url, started, deadline, policy)


def failure(exc: BaseException, url: str, started: float, deadline: Deadline, policy: Policy) -> Answer:
    """The answer for an attempt that got none: a timeout past the deadline, else dns/connect/tls."""
    duration = (time.perf_counter() - started) * 1000
    if deadline.expired:
        reason = f"no complete answer within {policy.total_timeout:g} s (SYNDICATE_DELIVERY_TIMEOUT)"
        return Answer(None, duration, "timeout", reason)
    text = redact_text(f"{type(exc).__name__}: {exc}", url)
    return Answer(None, duration, classify(exc), text[:EXCERPT_BYTES])


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
