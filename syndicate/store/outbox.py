"""The durable outbox: data access for the webhook tables (SQLAlchemy Core, SQLite and PostgreSQL).

Tables (migration 0004): ``posting_event_state`` and ``board_posting`` (what each
board was last owed, see ``changes``), ``delivery`` (one row per event and
board: the exact body, its state and lease), ``delivery_attempt`` (every try)
and ``board_health``.

A scan reads the remembered state and writes the new state and the deliveries
in one write transaction, so a crash leaves either all of it or none. Claims
take a lease: a worker killed mid-send leaves a lease that another (or the same,
restarted) worker reclaims once it expires. On PostgreSQL claims skip rows
another worker holds (``FOR UPDATE SKIP LOCKED``) and the scan runs under an
advisory lock, so several workers neither double-claim nor double-scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syndicate.push.changes import CLOSED, CREATED, UPDATED, BoardState, Event, Plan, PostingState
from syndicate.store.engine import Store
from syndicate.store.log import DeliveryLog
from syndicate.store.records import (
    DELIVERING,
    OPEN_STATES,
    PENDING,
    SUCCEEDED,
    SUPERSEDED,
    Delivery,
    NewDelivery,
    Outcome,
)
from syndicate.store.sql import chunks, insert_for, utc
from syndicate.store.tables import (
    board_channel,
    board_health,
    board_posting,
    delivery,
    delivery_attempt,
    posting_event_state,
)

Computer = Callable[[dict[str, PostingState], dict[tuple[str, str], BoardState]], Plan]

Builder = Callable[[list[Event]], list[NewDelivery]]

log = logging.getLogger(__name__)

FLIP_BACK = timedelta(minutes=10)  # a board changed back to its kind this soon: two configurations disagree?


class Switch(NamedTuple):
    """A scan's change of a board's kind (``before``: the old kind; None, only stray deliveries of
    another kind were dropped), how many deliveries of the old kind it dropped, and, for a board
    changed back to the kind it left less than ``FLIP_BACK`` ago, how many seconds ago."""

    before: str | None
    dropped: int
    back_after: float | None = None


class Outbox:
    """Webhook state and deliveries in the store's database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.writer = store.writer
        self._postgres = self.engine.dialect.name == "postgresql"
        self.log = DeliveryLog(store)  # the operator's view of the same tables

    # --- scan: read the remembered state, write the new one and the deliveries, atomically ---

    def scan(
        self,
        compute: Computer,
        build: Builder,
        now: datetime,
        boards: Mapping[str, str],
        *,
        dry_run: bool = False,
    ) -> list[NewDelivery] | None:
        """Run one scan in one transaction and return the deliveries it enqueued; None when another
        worker is scanning (PostgreSQL). ``boards``: the configured boards, each with its kind of
        channel (a board whose kind changed starts again, ``_switch_kinds``). ``dry_run``: the same
        scan, rolled back."""
        switched: dict[str, Switch] = {}
        with self.writer.connect() as conn:
            transaction = conn.begin()
            try:
                # per schema: two sites sharing one database (or two test runs) never wait for each other
                lock = "SELECT pg_try_advisory_xact_lock(hashtext('syndicate-scan:' || current_schema()))"
                if self._postgres and not conn.execute(sa.text(lock)).scalar():
                    transaction.rollback()
                    return None
                switched = self._switch_kinds(conn, boards, now)
                postings, sent = self._remembered(conn, set(boards))
                enqueued = self._write_plan(conn, compute(postings, sent), build, now)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        would = "(dry run, nothing done) " if dry_run else ""
        for board, (before, dropped, back_after) in sorted(switched.items()):
            kind = boards[board]
            if before is None:
                log.info("%sboard %s: %d delivery(ies) not of kind %s dropped", would, board, dropped, kind)
                continue
            if back_after is not None:
                log.error(
                    "%sboard %s changed kind back to %s %.0f s after it left it: do all workers sharing this"
                    " database read the same boards.toml? Each change drops what is owed in the other format"
                    " and backfills the board",
                    would,
                    board,
                    kind,
                    back_after,
                )
            log.warning(
                "%sboard %s changed kind from %s to %s: %d pending delivery(ies) of the old kind dropped,"
                " and it is backfilled as a new channel",
                would,
                board,
                before,
                kind,
                dropped,
            )
        return enqueued

    def channel_kind(self, board: str) -> str | None:
        """The kind ``board`` was last scanned as (None: never)."""
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(board_channel.c.kind).where(board_channel.c.board == board))

    @staticmethod
    def _switch_kinds(conn: Connection, kinds: Mapping[str, str], now: datetime) -> dict[str, Switch]:
        """Record the kind each board is fed as. A board that was fed as another kind is a new channel
        under its old name: what it was last owed is forgotten (so it is backfilled) and its health
        starts afresh (a 410 or a 403 of the old peer says nothing of the new one). Every scan then
        drops what is pending in another format than its board's (the whole queue of a board that
        switched; one that was in flight at the switch and came back to be retried). Returns what
        changed, per board."""
        if not kinds:
            return {}
        rows = {
            r.board: r
            for chunk in chunks(sorted(kinds))
            for r in conn.execute(sa.select(board_channel).where(board_channel.c.board.in_(chunk))).all()
        }
        new = [{"board": b, "kind": k} for b, k in kinds.items() if b not in rows]
        if new:
            conn.execute(board_channel.insert(), new)
        switched = sorted(b for b, k in kinds.items() if b in rows and rows[b].kind != k)
        back: dict[str, float] = {}  # boards changed back to the kind they left a moment ago: after how long
        for board in switched:
            row = rows[board]
            if row.previous_kind == kinds[board] and row.changed_at is not None:
                since = (utc(now) - utc(row.changed_at)).total_seconds()
                if since < FLIP_BACK.total_seconds():
                    back[board] = since
            conn.execute(
                board_channel.update()
                .where(board_channel.c.board == board)
                .values(kind=kinds[board], previous_kind=row.kind, changed_at=utc(now))
            )
            conn.execute(board_posting.delete().where(board_posting.c.board == board))
            conn.execute(board_health.delete().where(board_health.c.board == board))
        kind_now = sa.select(board_channel.c.kind).where(board_channel.c.board == delivery.c.board).scalar_subquery()
        other_format = sa.or_(
            delivery.c.kind != kind_now,
            sa.and_(delivery.c.kind.is_(None), delivery.c.board.in_(switched)),  # of no known format
        )
        dropped: dict[str, int] = {}
        for chunk in chunks(sorted(kinds)):
            for board in conn.execute(
                delivery.update()
                .where(delivery.c.state == PENDING, delivery.c.board.in_(chunk), other_format)
                .values(state=SUPERSEDED, updated_at=utc(now))
                .returning(delivery.c.board)
            ).scalars():
                dropped[board] = dropped.get(board, 0) + 1
        out = {b: Switch(rows[b].kind, dropped.get(b, 0), back.get(b)) for b in switched}
        out.update((b, Switch(None, n)) for b, n in dropped.items() if b not in out)
        return out

    @staticmethod
    def _remembered(
        conn: Connection, configured: set[str]
    ) -> tuple[dict[str, PostingState], dict[tuple[str, str], BoardState]]:
        """What was observed of each posting, and what each configured board was last owed. A board
        taken out of boards.toml (or a file briefly missing) is paused, not forgotten: if it comes
        back it gets what changed meanwhile, not a second backfill."""
        postings = {
            r.posting_id: PostingState(r.version, r.content_hash, r.listed, r.source)
            for r in conn.execute(sa.select(posting_event_state)).all()
        }
        sent = {
            (r.board, r.posting_id): BoardState(r.version, r.listed)
            for r in conn.execute(sa.select(board_posting)).all()
            if r.board in configured
        }
        return postings, sent

    def _write_plan(self, conn: Connection, plan: Plan, build: Builder, now: datetime) -> list[NewDelivery]:
        insert = insert_for(self.engine)
        if plan.postings:
            statement = insert(posting_event_state)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["posting_id"],
                    set_={c: statement.excluded[c] for c in ("version", "content_hash", "listed", "source")},
                ),
                [
                    {
                        "posting_id": pid,
                        "version": s.version,
                        "content_hash": s.content_hash,
                        "listed": s.listed,
                        "source": s.source,
                    }
                    for pid, s in plan.postings.items()
                ],
            )
        if plan.boards:
            statement = insert(board_posting)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["board", "posting_id"],
                    set_={c: statement.excluded[c] for c in ("version", "listed")},
                ),
                [
                    {"board": b, "posting_id": pid, "version": s.version, "listed": s.listed}
                    for (b, pid), s in plan.boards.items()
                ],
            )
        if not plan.events:
            return []
        enqueued = build(self._coalesce(conn, plan.events, now))
        rows = [
            {
                "webhook_id": item.webhook_id,
                "board": item.board,
                "posting_id": item.posting_id,
                "event_type": item.event_type,
                "version": item.version,
                "body": item.body,
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": utc(item.due_at or now),
                "kind": item.kind,
                "created_at": utc(now),
                "updated_at": utc(now),
            }
            for item in enqueued
        ]
        if rows:
            conn.execute(delivery.insert(), rows)
        return enqueued

    def _coalesce(self, conn: Connection, events: list[Event], now: datetime) -> list[Event]:
        """Replace pending deliveries by the new events; return the events to insert.

        A newer event supersedes a pending one of the same board and posting (never one in
        flight: the update only takes rows still pending, and says which it took). Then:
        - an update replacing a creation the board never got is a creation;
        - a close replacing a creation never attempted cancels both: the board never heard of it;
        - an event of a kind the board does not take is not sent, but it still replaces a pending
          one, and if that was a creation the board never got, it becomes a creation of the
          current content (or nothing, once the posting is no longer listed).
        """
        keys = {(e.board, e.posting_id) for e in events}
        candidates = [
            r.seq
            for r in conn.execute(
                sa.select(delivery.c.seq, delivery.c.board, delivery.c.posting_id).where(delivery.c.state == PENDING)
            ).all()
            if (r.board, r.posting_id) in keys
        ]
        replaced: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for chunk in chunks(candidates):
            taken = conn.execute(
                delivery.update()
                .where(delivery.c.seq.in_(chunk), delivery.c.state == PENDING)
                .values(state=SUPERSEDED, updated_at=utc(now))
                .returning(delivery.c.board, delivery.c.posting_id, delivery.c.event_type, delivery.c.attempts)
            ).all()
            for board, pid, kind, attempts in taken:
                replaced.setdefault((board, pid), []).append((kind, attempts))
        out = []
        for event in events:
            older = replaced.get((event.board, event.posting_id), [])
            unsent_creation = any(kind == CREATED for kind, _ in older)
            never_tried = unsent_creation and all(attempts == 0 for kind, attempts in older if kind == CREATED)
            if event.type == CLOSED and never_tried:
                continue
            if event.type == UPDATED and unsent_creation:
                event = replace(event, type=CREATED, wanted=True)
            if event.wanted:
                out.append(event)
        return out

    # --- claims and outcomes -------------------------------------------------------------

    def claim(
        self,
        now: datetime,
        owner: str,
        limit: int,
        lease: timedelta,
        boards: Iterable[str],
        room: Mapping[str, int] | None = None,
        closes_first: Iterable[str] = (),
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries, at most ``room[board]`` of each board, oldest first;
        for the boards in ``closes_first`` (google-indexing), due closes before anything else due.

        Per (board, posting) only the oldest open delivery is due, and none while another is
        in flight (a replayed old one included). Disabled and unconfigured boards get nothing.
        """
        boards = sorted(set(boards))
        if room is not None:
            boards = [b for b in boards if room.get(b, 0) > 0]
        if not boards or limit <= 0:
            return []
        now = utc(now)
        other = delivery.alias("other")
        disabled = sa.select(board_health.c.board).where(board_health.c.disabled)
        due = sa.or_(
            sa.and_(delivery.c.state == PENDING, delivery.c.next_attempt_at <= now),
            sa.and_(delivery.c.state == DELIVERING, delivery.c.lease_until < now),  # a dead worker's lease
        )
        blocked = (
            sa.select(other.c.seq)
            .where(other.c.board == delivery.c.board, other.c.posting_id == delivery.c.posting_id)
            .where(other.c.seq != delivery.c.seq, other.c.state.in_(OPEN_STATES))
            .where(
                sa.or_(other.c.seq < delivery.c.seq, sa.and_(other.c.state == DELIVERING, other.c.lease_until >= now))
            )
            .exists()
        )
        early = sorted(set(closes_first))
        is_early = sa.and_(delivery.c.board.in_(early), delivery.c.event_type == CLOSED) if early else sa.false()
        first = sa.case((is_early, 0), else_=1)
        query = (
            sa.select(delivery.c.seq, delivery.c.board)
            .where(due, ~blocked, delivery.c.board.in_(boards), delivery.c.board.not_in(disabled))
            .order_by(first, delivery.c.next_attempt_at, delivery.c.seq)  # (only due rows: a close goes first)
            .limit(limit if room is None else min(limit * len(boards), 4 * limit))
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=delivery)
        with self.writer.begin() as conn:
            left = dict(room) if room is not None else None
            seqs = []
            for seq, board in conn.execute(query).all():
                if left is not None:
                    if left.get(board, 0) <= 0:
                        continue  # this board has its share in flight: the others are not held up
                    left[board] -= 1
                seqs.append(seq)
                if len(seqs) == limit:
                    break
            if not seqs:
                return []
            conn.execute(
                delivery.update()
                .where(delivery.c.seq.in_(seqs))
                .values(state=DELIVERING, lease_owner=owner, lease_until=now + lease, updated_at=now)
            )
            rows = conn.execute(sa.select(delivery).where(delivery.c.seq.in_(seqs))).all()
        order = {seq: i for i, seq in enumerate(seqs)}  # the claim's order: the lanes send in it
        return [Delivery.from_row(r) for r in sorted(rows, key=lambda r: order[r.seq])]

    def release_items(self, items: Iterable[Delivery], now: datetime) -> int:
        """Give back leased deliveries that were not sent (a stop, or too little lease left)."""
        seqs = [d.seq for d in items]
        if not seqs:
            return 0
        count = 0
        with self.writer.begin() as conn:
            for chunk in chunks(seqs):
                count += conn.execute(
                    delivery.update()
                    .where(delivery.c.seq.in_(chunk), delivery.c.state == DELIVERING)
                    .values(state=PENDING, lease_owner=None, lease_until=None, updated_at=utc(now))
                ).rowcount
        return count

    def record(self, outcomes: Sequence[Outcome], now: datetime) -> int:
        """Record attempts and the deliveries' new states in one transaction; returns how many
        deliveries changed. Every attempt is logged. A delivery takes an outcome while this worker
        holds its lease; after the lease was lost, only if no attempt was recorded on it since this
        one was claimed, and, while another worker holds it, only a success (which is then not
        thrown away: the board has it; that worker's own result is ignored)."""
        if not outcomes:
            return 0
        changed = 0
        now = utc(now)
        lease_ours = sa.and_(delivery.c.state == DELIVERING, delivery.c.lease_owner == sa.bindparam("b_owner"))
        nobody_since = sa.and_(
            sa.or_(delivery.c.state == PENDING, delivery.c.state == DELIVERING),  # no IN list: executemany
            delivery.c.attempts == sa.bindparam("b_attempts"),
            sa.or_(
                delivery.c.lease_owner.is_(None),
                delivery.c.lease_until < now,
                sa.bindparam("b_succeeded", type_=sa.Boolean) == sa.true(),
            ),
        )
        with self.writer.begin() as conn:
            result = conn.execute(
                delivery.update()
                .where(delivery.c.seq == sa.bindparam("b_seq"))
                .where(sa.or_(lease_ours, nobody_since))
                .values(
                    state=sa.bindparam("b_state"),
                    attempts=delivery.c.attempts + sa.bindparam("b_count"),
                    next_attempt_at=sa.func.coalesce(
                        sa.bindparam("b_next", type_=delivery.c.next_attempt_at.type), delivery.c.next_attempt_at
                    ),
                    lease_owner=None,
                    lease_until=None,
                    updated_at=sa.bindparam("b_now"),
                    last_status=sa.bindparam("b_status"),
                    last_error=sa.bindparam("b_error"),
                ),
                [
                    {
                        "b_seq": o.item.seq,
                        "b_owner": o.item.lease_owner,
                        "b_attempts": o.item.attempts,
                        "b_succeeded": o.state == SUCCEEDED,
                        "b_state": o.state,
                        "b_count": 1 if o.count else 0,
                        "b_next": utc(o.next_attempt_at) if o.next_attempt_at else None,
                        # a delivery that waits unsent keeps its last answer
                        "b_now": utc(o.attempt.attempted_at) if o.attempt else now,
                        "b_status": o.attempt.status_code if o.attempt else o.item.last_status,
                        "b_error": o.attempt.error_class if o.attempt else o.item.last_error,
                    }
                    for o in outcomes
                ],
            )
            changed = result.rowcount
            attempts = [dict(o.attempt.__dict__) for o in outcomes if o.attempt is not None]
            if attempts:
                conn.execute(delivery_attempt.insert(), attempts)
            tried = [o for o in outcomes if o.attempt is not None]
            if tried:  # an answer to an old format says nothing of the new channel's health
                names = sorted({o.item.board for o in tried})
                # shared row locks, in the scan's order: a scan changing a board's kind waits for this record, or
                # this record for the scan (PostgreSQL; SQLite's write lock serialises them anyway)
                query = sa.select(board_channel.c.board, board_channel.c.kind).where(board_channel.c.board.in_(names))
                query = query.order_by(board_channel.c.board).with_for_update(read=True)
                now_kind = dict(conn.execute(query).all())
                tried = [
                    o for o in tried if o.item.kind is None or now_kind.get(o.item.board, o.item.kind) == o.item.kind
                ]
            for board in dict.fromkeys(o.item.board for o in tried):
                self._health(conn, board, [o for o in tried if o.item.board == board])
        return changed

    def _health(self, conn: Connection, board: str, outcomes: list[Outcome]) -> None:
        """Fold a board's outcomes (each with its attempt), in order, into its health row."""
        tried = [(o, o.attempt) for o in outcomes if o.attempt is not None]
        successes = [a for o, a in tried if a.error_class is None]
        failures = [a for o, a in tried if a.error_class is not None]
        reset = bool(successes)
        last_ok = max((a.attempted_at for a in successes), default=None)
        after = [a for a in failures if last_ok is None or a.attempted_at > last_ok]
        last_failure = max((a.attempted_at for a in failures), default=None)
        disabling = next((o for o in outcomes if o.disable_reason), None)
        disable = disabling.disable_reason if disabling else None
        config = disabling.disabled_config if disabling else None
        row = {
            "board": board,
            "disabled": disable is not None,
            "disabled_reason": disable,
            "disabled_config": config,
            "last_success_at": utc(last_ok) if last_ok else None,
            "last_failure_at": utc(last_failure) if last_failure else None,
            "consecutive_failures": len(after),
        }
        updates: dict[str, Any] = {
            "consecutive_failures": len(after) if reset else board_health.c.consecutive_failures + len(after)
        }
        if last_ok:
            updates["last_success_at"] = utc(last_ok)
        if last_failure:
            updates["last_failure_at"] = utc(last_failure)
        if disable is not None:
            updates |= {"disabled": True, "disabled_reason": disable, "disabled_config": config}
        statement = insert_for(self.engine)(board_health)
        conn.execute(statement.on_conflict_do_update(index_elements=["board"], set_=updates), row)

    def enable_changed(self, configs: Mapping[str, str]) -> list[str]:
        """Enable the boards a 403 disabled whose configuration has changed since (``configs``: each
        board's digest now); returns their names."""
        if not configs:
            return []
        with self.writer.begin() as conn:
            rows = conn.execute(
                sa.select(board_health.c.board, board_health.c.disabled_config).where(
                    board_health.c.disabled, board_health.c.disabled_config.is_not(None)
                )
            ).all()
            changed = [b for b, config in rows if b in configs and configs[b] != config]
            if changed:
                conn.execute(
                    board_health.update()
                    .where(board_health.c.board.in_(changed))
                    .values(disabled=False, disabled_reason=None, disabled_config=None, consecutive_failures=0)
                )
        return changed

    def due_again(self, boards: Sequence[str], waiting_until: datetime, now: datetime) -> int:
        """Make the pending deliveries of ``boards`` that wait until ``waiting_until`` (the next UTC day's
        quota) due now, unsent and uncounted as they are; returns how many."""
        if not boards:
            return 0
        with self.writer.begin() as conn:
            return conn.execute(
                delivery.update()
                .where(delivery.c.board.in_(list(boards)), delivery.c.state == PENDING)
                .where(delivery.c.next_attempt_at == utc(waiting_until))
                .values(next_attempt_at=utc(now), updated_at=utc(now))
            ).rowcount

    def release(self, owner: str, now: datetime) -> int:
        """Give back every lease of ``owner`` (a worker stopping without sending them)."""
        with self.writer.begin() as conn:
            return conn.execute(
                delivery.update()
                .where(delivery.c.state == DELIVERING, delivery.c.lease_owner == owner)
                .values(state=PENDING, lease_owner=None, lease_until=None, updated_at=utc(now))
            ).rowcount
