"""Small SQL helpers every store module shares: UTC values, whole seconds, chunked IN lists, upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

WHOLE_TABLE = 2000  # above this many values, one scan of the table beats many IN lists
CHUNK = 500  # bound parameters per statement stay well under SQLite's limit


def utc(value: datetime) -> datetime:
    # Every value is stored in UTC: SQLite drops the offset, and hands back naive datetimes.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def whole_second(value: datetime) -> datetime:
    """HTTP dates have whole seconds: change times are kept that way, so that two changes
    compare as different in ``If-Modified-Since`` they are kept at least a second apart."""
    return utc(value).replace(microsecond=0)


def second_after(previous: datetime, now: datetime) -> datetime:
    """``now`` to the second, but at least a second after ``previous``."""
    return max(whole_second(now), whole_second(previous) + timedelta(seconds=1))


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows_where_in(conn: Connection, query: sa.Select, column: sa.Column, values: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``values``: chunked IN lists, or for
    many values one scan of the table (cheaper than dozens of IN lists), filtered here."""
    values = list(values)
    if len(values) > WHOLE_TABLE:
        wanted = set(values)
        index = list(query.selected_columns).index(column)
        yield from (row for row in conn.execute(query).all() if row[index] in wanted)
        return
    for chunk in chunks(values):
        yield from conn.execute(query.where(column.in_(chunk))).all()  # all(): one fetch, not one per row


def insert_for(engine: Engine):
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
