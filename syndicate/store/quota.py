"""The quota ledger of google-indexing boards: publish calls per board and UTC day, across every worker.

A call is reserved before it is made, as one row named by its delivery and how many of its attempts
were recorded before it (``reserve``): a worker killed after reserving and restarted makes the same
attempt again under the same name, so the call is counted once, and every call that was recorded (a
403 or a 429 too, which count no attempt against the retry schedule) makes the next one a new name.
A day whose quota is spent (here, or by Google's own 429) takes no more reservations; what does not
fit waits for the next day. On PostgreSQL an advisory lock per board makes counting and
reserving one step across workers; SQLite's write lock does the same.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from syndicate.store.engine import Store
from syndicate.store.sql import insert_for, utc
from syndicate.store.tables import channel_quota_call, delivery_attempt

SPENT = "!spent"  # the row that closes a day: Google answered 429


class QuotaLedger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._postgres = store.engine.dialect.name == "postgresql"

    def reserve(self, board: str, day: str, webhook_id: str, quota: int, now: datetime) -> bool:
        """Room on ``day`` for the next publish call of delivery ``webhook_id`` (True also when it was
        reserved before: the same attempt again). The call is named by the delivery and the number of
        its attempts recorded so far, plus one."""
        table = channel_quota_call
        of_day = sa.and_(table.c.board == board, table.c.day == day)
        with self.store.writer.begin() as conn:
            if self._postgres:
                lock = "SELECT pg_advisory_xact_lock(hashtext('syndicate-quota:' || current_schema() || :board))"
                conn.execute(sa.text(lock), {"board": board})
            recorded = conn.scalar(sa.select(sa.func.count()).where(delivery_attempt.c.webhook_id == webhook_id))
            call = f"{webhook_id}:{int(recorded or 0) + 1}"
            calls = set(conn.scalars(sa.select(table.c.call).where(of_day)).all())
            if call in calls:
                return True
            if SPENT in calls or len(calls) >= quota:
                return False
            conn.execute(table.insert().values(board=board, day=day, call=call, reserved_at=utc(now)))
            return True

    def spend(self, board: str, day: str, now: datetime) -> None:
        """Google said the day's quota is used (429): no more reservations that day."""
        statement = insert_for(self.store.engine)(channel_quota_call)
        with self.store.writer.begin() as conn:
            conn.execute(
                statement.on_conflict_do_nothing(index_elements=["board", "day", "call"]),
                {"board": board, "day": day, "call": SPENT, "reserved_at": utc(now)},
            )

    def used(self, board: str, day: str) -> int:
        """Calls reserved on ``day``."""
        table = channel_quota_call
        query = sa.select(sa.func.count()).where(table.c.board == board, table.c.day == day, table.c.call != SPENT)
        with self.store.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
