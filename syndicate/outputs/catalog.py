"""What one snapshot lists at any moment: open postings newest first, and the expiry boundaries.

A posting disappears from every output the instant its ``valid_through``
passes. Between two consecutive ``valid_through`` times the listed set cannot
change, so the index of the last one passed (the *epoch*) names that set: it
goes into every cache key, and the next boundary caps ``max-age``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from syndicate.model import Posting, Status
from syndicate.postings.snapshot import Snapshot

T = TypeVar("T")


class Catalog:
    """Derived once per snapshot; read by every request. ``changed_at``: when this set was first served."""

    def __init__(self, snapshot: Snapshot, changed_at: datetime) -> None:
        self.snapshot = snapshot
        self.version = snapshot.version
        self.changed_at = changed_at
        listed = [p for p in snapshot.postings.values() if p.status is Status.OPEN]
        listed.sort(key=lambda p: p.id)
        listed.sort(key=lambda p: p.date_posted, reverse=True)  # type: ignore[arg-type,return-value]
        self._listed = listed
        self._expiries = sorted(p.valid_through for p in listed if p.valid_through is not None)
        self._live: dict[int, list[Posting]] = {}
        self._memo: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def epoch(self, now: datetime) -> int:
        """How many expiry times have passed at ``now`` (a posting expires when now > valid_through)."""
        return bisect_left(self._expiries, now)

    def boundary(self, epoch: int) -> datetime | None:
        """The last expiry passed in ``epoch``: when the listed set last shrank by expiry."""
        return self._expiries[epoch - 1] if epoch else None

    def next_expiry(self, epoch: int) -> datetime | None:
        return self._expiries[epoch] if epoch < len(self._expiries) else None

    def live(self, epoch: int) -> list[Posting]:
        """Open, unexpired postings in ``epoch``, newest first (ties by id). Do not mutate."""
        found = self._live.get(epoch)
        if found is None:
            cut = self.boundary(epoch)
            found = (
                self._listed
                if cut is None
                else [p for p in self._listed if p.valid_through is None or p.valid_through > cut]
            )
            with self._lock:
                if len(self._live) > 64:
                    self._live.clear()
                self._live[epoch] = found
        return found

    def last_modified(self, epoch: int) -> datetime:
        """When any list output of this epoch last changed: the set's first serving or the last expiry."""
        cut = self.boundary(epoch)
        return max(self.changed_at, cut) if cut else self.changed_at

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """A value derived from this snapshot, made once (what every filter of one epoch shares)."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = make()
        with self._lock:
            if len(self._memo) > 256:
                self._memo.clear()
            self._memo[key] = value
        return value

    def is_listed(self, posting: Posting, epoch: int) -> bool:
        cut = self.boundary(epoch)
        if posting.status is not Status.OPEN:
            return False
        return posting.valid_through is None or cut is None or posting.valid_through > cut
