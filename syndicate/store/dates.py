"""Where a posting's dates and a snapshot version's first serving come from, with or without the database.

The database is the record every process agrees on: when each posting id was
first seen and last changed (``posting_state``), and when each set of postings
was first served (``snapshot_version``). While it is usable, every answer from
it is also written to a *standby*, a SQLite file in the instance folder, which
every process of the machine shares.

While it is away, the standby answers in its place: a process that restarts
during an outage dates its postings exactly as before, and a posting first seen
(or changed) meanwhile is dated once, by the first process of the machine to see
it, for all of them. With no standby (the database is itself the local SQLite
file) the process dates it in memory. Either way those dates are *provisional*:
when the database is back they are recorded in it as they were served (a date
the database already holds wins), and the loader re-dates what the database
then says, so no date served during an outage is replaced by the time of the
recovery.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime

from syndicate.store.database import DATABASE_ERRORS, Database, describe
from syndicate.store.engine import Store
from syndicate.store.postings import PostingDates, Seen
from syndicate.store.sql import second_after, whole_second

log = logging.getLogger(__name__)


class Dates:
    """Posting dates and version times from the database, else the standby, else this process."""

    def __init__(self, database: Database, standby: Store | None = None) -> None:
        self.database = database
        self.store = database.store
        self.standby = standby
        self._standby_ready = False
        self._standby_failing = False
        self._mirrored: dict[str, tuple[str, PostingDates, str | None]] = {}
        self._provisional: dict[str, tuple[Seen, PostingDates]] = {}  # served while away, to record
        self._memory: dict[str, tuple[str, PostingDates]] = {}  # dated here: no database, no standby
        self._lock = threading.Lock()

    @property
    def provisional(self) -> set[str]:
        """Ids whose dates were given while the database was away, not yet recorded in it."""
        with self._lock:
            return set(self._provisional)

    # --- posting dates ----------------------------------------------------------------------------

    def record_postings(self, seen: Iterable[Seen], now: datetime) -> dict[str, PostingDates]:
        """``Store.record_postings``: from the database, else the standby, else this process.

        A posting is stamped first seen (and changed) to the second, whatever the clock's precision: every
        output shows these times, and none shows a fraction (HTTP dates cannot, and one must not differ)."""
        seen = list(seen)
        now = whole_second(now)
        found = self.database.call(lambda: self.store.record_postings(seen, now), None)
        if found is not None:
            self._mirror(seen, found)
            return found
        found = self._on_standby(lambda standby: standby.record_postings(seen, now))
        if found is None:
            found = self._in_memory(seen, now)
        with self._lock:
            for s in seen:
                if s.id in found:
                    self._provisional[s.id] = (s, found[s.id])
        return found

    def catch_up(self) -> set[str]:
        """Record the provisional dates in the database (it is back); returns their ids, which the
        loader then dates again from the database."""
        with self._lock:
            pending = dict(self._provisional)
        if not pending:
            return set()
        self.store.merge_postings(pending.values())  # raises if the database went away again
        with self._lock:
            for pid, entry in pending.items():
                if self._provisional.get(pid) == entry:
                    del self._provisional[pid]
        log.info("recorded the dates of %d posting(s) first seen or changed while the database was away", len(pending))
        return set(pending)

    def _mirror(self, seen: list[Seen], found: dict[str, PostingDates]) -> None:
        """Keep the standby in step with what the database answered (only what changed since last time)."""
        if self.standby is None:
            return
        fresh = [
            (s, found[s.id])
            for s in seen
            if s.id in found and self._mirrored.get(s.id) != (s.content_hash, found[s.id], s.source)
        ]
        if fresh and self._on_standby(lambda standby: standby.mirror_postings(fresh)) is not None:
            for s, dates in fresh:
                self._mirrored[s.id] = (s.content_hash, dates, s.source)

    def _in_memory(self, seen: list[Seen], now: datetime) -> dict[str, PostingDates]:
        """The store's rules, applied to this process's memory: the last resort."""
        found = {}
        with self._lock:
            for s in seen:
                known = self._memory.get(s.id)
                if known is None:
                    dates = PostingDates(now, min(s.date_posted, now) if s.date_posted else now)
                elif known[0] != s.content_hash:
                    dates = PostingDates(known[1].first_seen, second_after(known[1].changed_at, now))
                else:
                    dates = known[1]
                self._memory[s.id] = (s.content_hash, dates)
                found[s.id] = dates
        return found

    # --- version times ----------------------------------------------------------------------------

    def version_seen(self, version: str, now: datetime, previous: datetime | None) -> datetime:
        """``Store.version_seen``: from the database (mirrored), else the standby, else the load time."""
        seen = self.database.call(lambda: self.store.version_seen(version, now, previous), None)
        if seen is not None:
            self._on_standby(lambda standby: standby.mirror_version(version, seen))
            return seen
        seen = self._on_standby(lambda standby: standby.version_seen(version, now, previous))
        if seen is not None:
            return seen
        return second_after(previous, now) if previous else whole_second(now)

    # --- the standby --------------------------------------------------------------------------------

    def _on_standby(self, use):  # type: ignore[no-untyped-def]
        """``use(standby)``, or None when there is none or it fails (it is a help, never a need)."""
        if self.standby is None:
            return None
        try:
            if not self._standby_ready:
                self.standby.migrate()
                self._standby_ready = True
            found = use(self.standby)
        except DATABASE_ERRORS as exc:
            if not self._standby_failing:  # once, until it works again
                log.error("the standby %s failed (%s); dating in memory meanwhile", self.standby.url, describe(exc))
            self._standby_failing = True
            return None
        self._standby_failing = False
        return found
