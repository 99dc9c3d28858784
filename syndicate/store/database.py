"""Whether the database can be used, as every part of one process sees it.

A process keeps serving while the database is away: each use of it goes
through ``Database.call``, which answers a fallback at once while the database
is known to be away (no request or reload waits on a connection that cannot
succeed), and marks it away when a call fails. Only ``check`` (a ping and the
schema revision) brings it back; a background thread calls it with backoff.
Changes of state are logged once each, never once per failed call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from syndicate.logs import safe
from syndicate.store.engine import Schema, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a database that is away, unreachable, locked or not yet migrated raises (the driver's errors, a
# pool that cannot connect; SQLite: a file it cannot open). Not SQLAlchemy's own usage errors: a bug of
# ours must show as one, not as an outage.
DATABASE_ERRORS = (sa.exc.DBAPIError, sa.exc.TimeoutError, sa.exc.DisconnectionError, OSError)
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between checks while it stays away


def describe(exc: BaseException) -> str:
    """One line naming the failure, without the SQL or the parameters (they may hold data)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return safe(f"{type(original).__name__}: {first}"[:300])


class Database:
    """The availability of ``store`` for this process, and calls that survive its absence."""

    def __init__(self, store: Store, backoff: tuple[float, ...] = BACKOFF) -> None:
        self.store = store
        self.backoff = backoff
        self._usable: bool | None = None  # None: not known yet (no call or check so far)
        self._schema: Schema | None = None
        self._reason = "not checked yet"
        self._since = time.monotonic()
        self._failures = 0
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._on_recovery: list[Callable[[], None]] = []

    # --- state ------------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """True unless the last call or check failed (optimistic before the first one)."""
        return self._usable is not False

    def status(self) -> dict[str, object]:
        """What /healthz says about the database."""
        return {
            "database": self._usable is True,
            "schema": str(self._schema) if self._schema else "unknown",
            **({} if self._usable else {"database_error": self._reason}),
        }

    def on_recovery(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (in the checking thread) each time the database becomes usable again."""
        self._on_recovery.append(callback)

    # --- using it ---------------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], fallback: T) -> T:
        """``fn()``, or ``fallback`` at once when the database is away or the call fails."""
        if self._usable is False:
            return fallback
        try:
            return fn()
        except DATABASE_ERRORS as exc:
            self.failed(exc)
            return fallback

    def failed(self, exc: BaseException) -> None:
        """Mark the database away after a failed use."""
        self._set(False, describe(exc), None)

    def check(self) -> bool:
        """Ping it and read its schema revision now; True when it can be used."""
        try:
            schema = self.store.schema()
        except DATABASE_ERRORS as exc:
            self._set(False, describe(exc), None)
            return False
        if not schema.current:
            self._set(False, f"schema {schema}", schema)
            return False
        self._set(True, "", schema)
        return True

    def check_due(self) -> bool:
        """``check`` if it is time (right away while usable; with backoff while away)."""
        if self._usable is not False or time.monotonic() >= self._next_check:
            return self.check()
        return False

    def seconds_to_next_check(self) -> float:
        """How long the backoff waits before the next check (0 while usable)."""
        return max(0.0, self._next_check - time.monotonic()) if self._usable is False else 0.0

    def _set(self, usable: bool, reason: str, schema: Schema | None) -> None:
        with self._lock:
            before = self._usable
            if schema is not None or usable:
                self._schema = schema
            if usable:
                self._failures = 0
                self._next_check = 0.0
            else:
                self._next_check = time.monotonic() + self.backoff[min(self._failures, len(self.backoff) - 1)]
                self._failures += 1
            changed = before is not usable  # logged once per change of state, not per failed call
            self._usable = usable
            self._reason = reason
            if before is not usable:
                away_for = time.monotonic() - self._since
                self._since = time.monotonic()
        if not changed:
            return
        if usable:
            if before is False:
                log.info("database usable again after %.0f s away", away_for)
            for callback in self._on_recovery:
                try:
                    callback()
                except DATABASE_ERRORS as exc:  # it went away again: the next check retries
                    self.failed(exc)
        else:
            log.warning("database not usable (%s); carrying on without it, checking again with backoff", reason)
