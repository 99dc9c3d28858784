"""Posting state and snapshot versions: the dates that never move (first seen, last changed) and when
each set of served postings was first served. Part of ``Store`` (a mixin over its engine)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syndicate.store.sql import chunks, insert_for, rows_where_in, second_after, utc, whole_second
from syndicate.store.tables import posting_state, snapshot_version

VERSION_MEMORY = timedelta(days=30)

# A posting's new content and change time, written only while its row still has the hash read before:
# a process that recorded a newer state in between keeps it.
MOVE_IF_UNCHANGED = (
    posting_state.update()
    .where(posting_state.c.id == sa.bindparam("b_id"))
    .where(posting_state.c.content_hash == sa.bindparam("b_old"))
    .values(content_hash=sa.bindparam("b_hash"), changed_at=sa.bindparam("b_changed"))
)


@dataclass(frozen=True)
class PostingDates:
    first_seen: datetime
    changed_at: datetime


@dataclass(frozen=True)
class Seen:
    """A posting as the loader sees it now, to be recorded in ``posting_state``."""

    id: str
    content_hash: str
    date_posted: datetime | None
    source: str | None = None


def state_row(seen: Seen, dates: PostingDates) -> dict[str, Any]:
    """A ``posting_state`` row for a posting and the dates it was given."""
    return {
        "id": seen.id,
        "first_seen": utc(dates.first_seen),
        "content_hash": seen.content_hash,
        "changed_at": utc(dates.changed_at),
        "source": seen.source,
    }


class PostingRecords:
    """``posting_state`` and ``snapshot_version`` over ``self.engine`` and ``self.writer`` (see ``Store``)."""

    engine: sa.Engine
    writer: sa.Engine

    def record_postings(self, seen: Iterable[Seen], now: datetime) -> dict[str, PostingDates]:
        """Record what is served now; return each id's first-seen and last-change times.

        A new id is first seen ``now``; its last change is its own ``date_posted``
        when that is already past (nothing better is known), else ``now``. A
        known id whose content hash differs changed ``now``. Concurrent
        processes agree: the insert ignores an id another process just added,
        and the update only moves a row whose hash is still the old one.
        """
        seen = list(seen)
        known = self._posting_states([s.id for s in seen])
        new = [s for s in seen if s.id not in known]
        moved = [s for s in seen if s.id in known and known[s.id][0] != s.content_hash]
        relocated = [s for s in seen if s.id in known and s.source and known[s.id][2] != s.source]
        result = {pid: dates for pid, (_, dates, _) in known.items()}
        if not new and not moved and not relocated:
            return result  # the usual case after a restart: nothing to write
        insert = insert_for(self.engine)
        with self.writer.begin() as conn:
            for chunk in chunks(new):
                rows = [
                    {
                        "id": s.id,
                        "first_seen": utc(now),
                        "content_hash": s.content_hash,
                        "changed_at": utc(min(s.date_posted, now) if s.date_posted else now),
                        "source": s.source,
                    }
                    for s in chunk
                ]
                conn.execute(insert(posting_state).on_conflict_do_nothing(index_elements=["id"]), rows)
            if moved:
                # only a row whose hash is still the one read above moves: a process that
                # wrote a newer state in between keeps it, and the read-back below shows it
                conn.execute(
                    MOVE_IF_UNCHANGED,
                    [
                        {
                            "b_id": s.id,
                            "b_old": known[s.id][0],
                            "b_hash": s.content_hash,
                            "b_changed": second_after(known[s.id][1].changed_at, now),
                        }
                        for s in moved
                    ],
                )
            if relocated:
                conn.execute(
                    posting_state.update()
                    .where(posting_state.c.id == sa.bindparam("b_id"))
                    .values(source=sa.bindparam("b_source")),
                    [{"b_id": s.id, "b_source": s.source} for s in relocated],
                )
        # read back what is stored: another process may have written first, and all must agree
        written = self._posting_states([s.id for s in new + moved + relocated])
        result.update({pid: dates for pid, (_, dates, _) in written.items()})
        return result

    def merge_postings(self, rows: Iterable[tuple[Seen, PostingDates]]) -> None:
        """Record dates observed elsewhere while this database was away (a standby's): an id it does not
        know gets them as they were served; a known id whose content differs takes the observed change
        only when it is later than the one recorded (another process may have recorded a newer one)."""
        rows = list(rows)
        if not rows:
            return
        known = self._posting_states([s.id for s, _ in rows])
        insert = insert_for(self.engine)
        with self.writer.begin() as conn:
            new = [state_row(s, d) for s, d in rows if s.id not in known]
            for chunk in chunks(new):
                conn.execute(insert(posting_state).on_conflict_do_nothing(index_elements=["id"]), chunk)
            moved = [
                {
                    "b_id": s.id,
                    "b_old": known[s.id][0],
                    "b_hash": s.content_hash,
                    "b_changed": whole_second(d.changed_at),
                }
                for s, d in rows
                if s.id in known and known[s.id][0] != s.content_hash and d.changed_at > known[s.id][1].changed_at
            ]
            if moved:
                conn.execute(
                    MOVE_IF_UNCHANGED,
                    moved,
                )

    def mirror_postings(self, rows: Iterable[tuple[Seen, PostingDates]]) -> None:
        """Write these rows as they are, whatever was there (a standby copying the database's answers)."""
        values = [state_row(s, d) for s, d in rows]
        statement = insert_for(self.engine)(posting_state)
        upsert = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={c: statement.excluded[c] for c in ("first_seen", "content_hash", "changed_at", "source")},
        )
        with self.writer.begin() as conn:
            for chunk in chunks(values):
                conn.execute(upsert, chunk)

    def served(self, posting_id: str) -> tuple[str, str] | None:
        """(file, content hash) that last served ``posting_id``, as recorded by any process."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(posting_state.c.source, posting_state.c.content_hash).where(posting_state.c.id == posting_id)
            ).first()
        return (row.source, row.content_hash) if row and row.source else None

    def _posting_states(self, ids: list[str]) -> dict[str, tuple[str, PostingDates, str | None]]:
        columns = (
            posting_state.c.id,
            posting_state.c.content_hash,
            posting_state.c.first_seen,
            posting_state.c.changed_at,
            posting_state.c.source,
        )
        found: dict[str, tuple[str, PostingDates, str | None]] = {}
        with self.engine.connect() as conn:
            for pid, content_hash, first_seen, changed_at, source in rows_where_in(
                conn, sa.select(*columns), posting_state.c.id, ids
            ):
                found[pid] = (content_hash, PostingDates(utc(first_seen), utc(changed_at)), source)
        return found

    def version_seen(self, version: str, now: datetime, previous: datetime | None = None) -> datetime:
        """When ``version`` of the postings was first served, as every process agrees.

        A version served again after others (an edit reverted) is not newer than
        ``previous``, the time of the version it replaces here; it then counts as
        changed ``now``, so Last-Modified never goes backwards. Times are whole
        seconds, a new version at least one after ``previous`` (HTTP dates have
        no fractions, and two versions must not share one).
        """
        stamp = second_after(previous, now) if previous is not None else whole_second(now)
        insert = insert_for(self.engine)
        with self.writer.begin() as conn:
            conn.execute(
                insert(snapshot_version).on_conflict_do_nothing(index_elements=["version"]),
                {"version": version, "seen_at": stamp},
            )
            if previous is not None:
                conn.execute(
                    snapshot_version.update()
                    .where(snapshot_version.c.version == version)
                    .where(snapshot_version.c.seen_at <= utc(previous))
                    .values(seen_at=stamp)
                )
            conn.execute(  # versions unseen for a month will not be asked about again
                snapshot_version.delete()
                .where(snapshot_version.c.seen_at < utc(now) - VERSION_MEMORY)
                .where(snapshot_version.c.version != version)
            )
            seen = conn.execute(
                sa.select(snapshot_version.c.seen_at).where(snapshot_version.c.version == version)
            ).scalar_one()
        return utc(seen)

    def mirror_version(self, version: str, seen_at: datetime) -> None:
        """Write when ``version`` was first served, as the database says (a standby's copy)."""
        statement = insert_for(self.engine)(snapshot_version)
        upsert = statement.on_conflict_do_update(
            index_elements=["version"], set_={"seen_at": statement.excluded.seen_at}
        )
        with self.writer.begin() as conn:
            conn.execute(upsert, {"version": version, "seen_at": utc(seen_at)})
