"""The operator's side of the outbox: the delivery log, its attempts, redelivery, and board health
(what ``syndicate deliveries``, ``redeliver``, ``boards`` and the metrics read)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from syndicate.store.engine import Store
from syndicate.store.records import DELIVERING, FAILED, PENDING, Attempt, BoardHealth, Delivery
from syndicate.store.sql import chunks, utc
from syndicate.store.tables import board_channel, board_health, delivery, delivery_attempt


class DeliveryLog:
    """Deliveries, attempts and board health in the store's database, for operators."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        self.writer = store.writer

    def deliveries(
        self, *, board: str | None = None, state: str | None = None, posting: str | None = None, limit: int = 200
    ) -> list[Delivery]:
        query = sa.select(delivery).order_by(delivery.c.seq.desc()).limit(limit)
        for column, value in ((delivery.c.board, board), (delivery.c.state, state), (delivery.c.posting_id, posting)):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [Delivery.from_row(r) for r in conn.execute(query).all()]

    def history(self, board: str, posting_ids: Iterable[str], limit: int = 50) -> dict[str, list[tuple[str, bytes]]]:
        """(state, stored body) of the newest ``limit`` deliveries to ``board`` of each posting, newest
        first (what a websub delivery reads to find the feeds a posting was listed in before). Only those
        rows are read, however many a posting has had."""
        out: dict[str, list[tuple[str, bytes]]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(sorted(set(posting_ids))):
                newest = sa.func.row_number().over(partition_by=delivery.c.posting_id, order_by=delivery.c.seq.desc())
                ranked = (
                    sa.select(delivery.c.posting_id, delivery.c.state, delivery.c.body, newest.label("n"))
                    .where(delivery.c.board == board, delivery.c.posting_id.in_(chunk))
                    .subquery()
                )
                query = sa.select(ranked.c.posting_id, ranked.c.state, ranked.c.body).where(ranked.c.n <= limit)
                for pid, state, body in conn.execute(query.order_by(ranked.c.posting_id, ranked.c.n)).all():
                    out.setdefault(pid, []).append((state, bytes(body)))
        return out

    def attempts(self, webhook_id: str) -> list[Attempt]:
        query = sa.select(delivery_attempt).where(delivery_attempt.c.webhook_id == webhook_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(delivery_attempt.c.id)).all()
        return [
            Attempt(r.webhook_id, utc(r.attempted_at), r.status_code, r.duration_ms, r.error_class, r.excerpt)
            for r in rows
        ]

    def redeliver(
        self, now: datetime, *, webhook_id: str | None = None, board: str | None = None, since: datetime | None = None
    ) -> list[str]:
        """Queue deliveries again with their own webhook ids and bytes: one by id, or every failed one.
        Not one built for another kind than its board has now (the board changed kind since)."""
        other_kind = (
            sa.select(board_channel.c.board)
            .where(board_channel.c.board == delivery.c.board, board_channel.c.kind != delivery.c.kind)
            .exists()
        )
        query = sa.select(delivery.c.seq, delivery.c.webhook_id).where(~other_kind)
        if webhook_id is not None:
            query = query.where(delivery.c.webhook_id == webhook_id, delivery.c.state != DELIVERING)
        else:
            query = query.where(delivery.c.state == FAILED)
            if board is not None:
                query = query.where(delivery.c.board == board)
            if since is not None:
                query = query.where(delivery.c.created_at >= utc(since))
        with self.writer.begin() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    delivery.update()
                    .where(delivery.c.seq.in_([r.seq for r in rows]))
                    .values(state=PENDING, attempts=0, next_attempt_at=utc(now), updated_at=utc(now))
                )
        return [r.webhook_id for r in rows]

    def health(self) -> dict[str, BoardHealth]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(board_health)).all()
        return {
            r.board: BoardHealth(
                r.board,
                r.disabled,
                r.disabled_reason,
                utc(r.last_success_at) if r.last_success_at else None,
                utc(r.last_failure_at) if r.last_failure_at else None,
                r.consecutive_failures,
            )
            for r in rows
        }

    def disabled_boards(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.scalars(sa.select(board_health.c.board).where(board_health.c.disabled)).all())

    def enable_board(self, board: str) -> bool:
        with self.writer.begin() as conn:
            return bool(
                conn.execute(
                    board_health.update()
                    .where(board_health.c.board == board)
                    .values(disabled=False, disabled_reason=None, disabled_config=None, consecutive_failures=0)
                ).rowcount
            )

    def counts(self) -> dict[tuple[str, str], int]:
        """Deliveries per (board, state), for metrics and the CLI."""
        columns = (delivery.c.board, delivery.c.state)
        query = sa.select(*columns, sa.func.count()).group_by(*columns)
        with self.engine.connect() as conn:
            return {(b, s): n for b, s, n in conn.execute(query).all()}
