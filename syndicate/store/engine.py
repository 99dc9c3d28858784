"""The one data-access module: SQLAlchemy Core over SQLite (default) or PostgreSQL.

Tables (schema under Alembic, see ``migrations/``):
- ``posting_state``: per posting id, when it was first seen and when its content
  last changed, so ``date_posted`` and feed ``updated`` never move on restart;
- ``snapshot_version``: when each set of served postings (a snapshot version)
  was first served, the Last-Modified of every list output;
- ``parse_cache``: the parsed and rendered posting per file content, so a
  restart or a second process does not re-parse or re-render unchanged files.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()

posting_state = sa.Table(
    "posting_state",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text, nullable=True),  # the file that serves the id (settles duplicate ids)
)

parse_cache = sa.Table(
    "parse_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("source", sa.Text, nullable=False, index=True),
    sa.Column("stamp", sa.Text, nullable=False),  # the file's stat stamp when it was read
    sa.Column("result", sa.Text, nullable=False),  # JSON of the read result, without the HTML
    sa.Column("html", sa.Text, nullable=True),  # the rendered description, kept apart: no JSON escaping
)

snapshot_version = sa.Table(
    "snapshot_version",
    metadata,
    sa.Column("version", sa.String(16), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

# A posting's new content and change time, written only while its row still has the hash read before:
# a process that recorded a newer state in between keeps it.
_MOVE_IF_UNCHANGED = (
    posting_state.update()
    .where(posting_state.c.id == sa.bindparam("b_id"))
    .where(posting_state.c.content_hash == sa.bindparam("b_old"))
    .values(content_hash=sa.bindparam("b_hash"), changed_at=sa.bindparam("b_changed"))
)

VERSION_MEMORY = timedelta(days=30)
_WHOLE_TABLE = 2000  # above this many values, one scan of the table beats many IN lists
_CHUNK = 500  # bound parameters per statement stay well under SQLite's limit
MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class PostingDates:
    first_seen: datetime
    changed_at: datetime


@dataclass(frozen=True)
class CacheEntry:
    """A parsed file: ``key`` hashes its bytes (and the parser version); ``result`` is JSON text."""

    key: str
    source: str
    stamp: str
    result: str
    html: str | None


@dataclass(frozen=True)
class Seen:
    """A posting as the loader sees it now, to be recorded in ``posting_state``."""

    id: str
    content_hash: str
    date_posted: datetime | None
    source: str | None = None


def _utc(value: datetime) -> datetime:
    # Every value is stored in UTC: SQLite drops the offset, and hands back naive datetimes.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _second(value: datetime) -> datetime:
    """HTTP dates have whole seconds: change times are kept that way, so that two changes
    compare as different in ``If-Modified-Since`` they are kept at least a second apart."""
    return _utc(value).replace(microsecond=0)


def second_after(previous: datetime, now: datetime) -> datetime:
    """``now`` to the second, but at least a second after ``previous``."""
    return max(_second(now), _second(previous) + timedelta(seconds=1))


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_where_in(conn: Connection, query: sa.Select, column: sa.Column, values: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``values``: chunked IN lists, or for
    many values one scan of the table (cheaper than dozens of IN lists), filtered here."""
    values = list(values)
    if len(values) > _WHOLE_TABLE:
        wanted = set(values)
        index = list(query.selected_columns).index(column)
        yield from (row for row in conn.execute(query).all() if row[index] in wanted)
        return
    for chunk in _chunks(values):
        yield from conn.execute(query.where(column.in_(chunk))).all()  # all(): one fetch, not one per row


def _state_row(seen: Seen, dates: PostingDates) -> dict[str, Any]:
    """A ``posting_state`` row for a posting and the dates it was given."""
    return {
        "id": seen.id,
        "first_seen": _utc(dates.first_seen),
        "content_hash": seen.content_hash,
        "changed_at": _utc(dates.changed_at),
        "source": seen.source,
    }


def _insert(engine: Engine):
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def _migration_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


HEAD = ScriptDirectory.from_config(_migration_config()).get_current_head()


def _engine_options(url: str, timeout: float) -> dict[str, Any]:
    """A connection that fails within ``timeout`` seconds when the server is away or unreachable, and a
    pool that drops connections an outage broke (pre-ping), instead of waiting on TCP for minutes."""
    options: dict[str, Any] = {"future": True, "pool_pre_ping": True}
    if sa.make_url(url).get_backend_name() == "postgresql":
        seconds = max(1, round(timeout))
        options["connect_args"] = {
            "connect_timeout": seconds,
            "tcp_user_timeout": seconds * 1000,  # unacknowledged data on a cut connection
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": 1,
            "keepalives_count": 2,
        }
    return options


@dataclass(frozen=True)
class Schema:
    """The database's migration revision against this code's newest."""

    revision: str | None
    head: str

    @property
    def current(self) -> bool:
        return self.revision == self.head

    def __str__(self) -> str:
        if self.current:
            return "current"
        at = f"at revision {self.revision}" if self.revision else "not created"
        return f"{at}, this code needs {self.head}: run `syndicate migrate`"


class Store:
    """Access to the database; safe to share between threads of one process. ``timeout``: seconds
    a connection attempt (and, on PostgreSQL, an unanswered write) may take before it fails."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url
        self.engine = sa.create_engine(url, **_engine_options(url, timeout))
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        # write transactions take SQLite's write lock up front (BEGIN IMMEDIATE),
        # so two processes never deadlock upgrading a read lock.
        self._writer = self.engine.execution_options(syndicate_write=True)

    def _configure_sqlite(self) -> None:
        database = self.engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

        @sa.event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @sa.event.listens_for(self.engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("syndicate_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when processes start together."""
        with self._migration_lock() as conn:
            config = _migration_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def schema(self) -> Schema:
        """Where the schema stands (raises when the database cannot be reached)."""
        with self.engine.connect() as conn:
            return Schema(MigrationContext.configure(conn).get_current_revision(), HEAD)

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('syndicate-migrate'))"))
                yield conn
            return
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            with self.engine.begin() as conn:
                yield conn
            return
        with open(f"{database}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    # --- posting_state --------------------------------------------------------

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
        insert = _insert(self.engine)
        with self._writer.begin() as conn:
            for chunk in _chunks(new):
                rows = [
                    {
                        "id": s.id,
                        "first_seen": _utc(now),
                        "content_hash": s.content_hash,
                        "changed_at": _utc(min(s.date_posted, now) if s.date_posted else now),
                        "source": s.source,
                    }
                    for s in chunk
                ]
                conn.execute(insert(posting_state).on_conflict_do_nothing(index_elements=["id"]), rows)
            if moved:
                # only a row whose hash is still the one read above moves: a process that
                # wrote a newer state in between keeps it, and the read-back below shows it
                conn.execute(
                    _MOVE_IF_UNCHANGED,
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
        insert = _insert(self.engine)
        with self._writer.begin() as conn:
            new = [_state_row(s, d) for s, d in rows if s.id not in known]
            for chunk in _chunks(new):
                conn.execute(insert(posting_state).on_conflict_do_nothing(index_elements=["id"]), chunk)
            moved = [
                {"b_id": s.id, "b_old": known[s.id][0], "b_hash": s.content_hash, "b_changed": _second(d.changed_at)}
                for s, d in rows
                if s.id in known and known[s.id][0] != s.content_hash and d.changed_at > known[s.id][1].changed_at
            ]
            if moved:
                conn.execute(
                    _MOVE_IF_UNCHANGED,
                    moved,
                )

    def mirror_postings(self, rows: Iterable[tuple[Seen, PostingDates]]) -> None:
        """Write these rows as they are, whatever was there (a standby copying the database's answers)."""
        values = [_state_row(s, d) for s, d in rows]
        statement = _insert(self.engine)(posting_state)
        upsert = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={c: statement.excluded[c] for c in ("first_seen", "content_hash", "changed_at", "source")},
        )
        with self._writer.begin() as conn:
            for chunk in _chunks(values):
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
            for pid, content_hash, first_seen, changed_at, source in _rows_where_in(
                conn, sa.select(*columns), posting_state.c.id, ids
            ):
                found[pid] = (content_hash, PostingDates(_utc(first_seen), _utc(changed_at)), source)
        return found

    # --- parse_cache ----------------------------------------------------------

    def cached_by_source(self, sources: Iterable[str]) -> dict[str, CacheEntry]:
        """The cache entries of these files, found by path (a file is re-checked by its stamp)."""
        with self.engine.connect() as conn:
            rows = _rows_where_in(conn, sa.select(*parse_cache.c), parse_cache.c.source, sources)
            return {row.source: CacheEntry(*row) for row in rows}

    def cached_by_key(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """The cache entries for these content keys."""
        with self.engine.connect() as conn:
            return {
                row.key: CacheEntry(*row)
                for row in _rows_where_in(conn, sa.select(*parse_cache.c), parse_cache.c.key, keys)
            }

    def cache_results(self, entries: Iterable[CacheEntry], replaced: Iterable[str] = ()) -> set[str]:
        """Store entries (an existing key gets the new stamp); entries of ``replaced`` files with another
        key go. Returns the keys this call added first: of processes parsing the same bytes at once,
        exactly one is told it was first (that one reports the file's problems)."""
        rows = [
            {
                "key": e.key,
                "source": e.source,
                "stamp": e.stamp,
                "result": e.result,
                "html": e.html,
            }
            for e in entries
        ]
        if not rows:
            return set()
        insert = _insert(self.engine)
        replaced = set(replaced)
        first: set[str] = set()
        with self._writer.begin() as conn:
            stale = [{"b_source": r["source"], "b_key": r["key"]} for r in rows if r["source"] in replaced]
            if stale:
                conn.execute(
                    parse_cache.delete()
                    .where(parse_cache.c.source == sa.bindparam("b_source"))
                    .where(parse_cache.c.key != sa.bindparam("b_key")),
                    stale,
                )
            for chunk in _chunks(rows):
                added = insert(parse_cache).on_conflict_do_nothing(index_elements=["key"]).returning(parse_cache.c.key)
                first.update(conn.execute(added, chunk).scalars().all())
                known = [{"b_key": r["key"], "b_stamp": r["stamp"]} for r in chunk if r["key"] not in first]
                if known:
                    conn.execute(
                        parse_cache.update()
                        .where(parse_cache.c.key == sa.bindparam("b_key"))
                        .values(stamp=sa.bindparam("b_stamp")),
                        known,
                    )
        return first

    # --- snapshot_version --------------------------------------------------------

    def version_seen(self, version: str, now: datetime, previous: datetime | None = None) -> datetime:
        """When ``version`` of the postings was first served, as every process agrees.

        A version served again after others (an edit reverted) is not newer than
        ``previous``, the time of the version it replaces here; it then counts as
        changed ``now``, so Last-Modified never goes backwards. Times are whole
        seconds, a new version at least one after ``previous`` (HTTP dates have
        no fractions, and two versions must not share one).
        """
        stamp = second_after(previous, now) if previous is not None else _second(now)
        insert = _insert(self.engine)
        with self._writer.begin() as conn:
            conn.execute(
                insert(snapshot_version).on_conflict_do_nothing(index_elements=["version"]),
                {"version": version, "seen_at": stamp},
            )
            if previous is not None:
                conn.execute(
                    snapshot_version.update()
                    .where(snapshot_version.c.version == version)
                    .where(snapshot_version.c.seen_at <= _utc(previous))
                    .values(seen_at=stamp)
                )
            conn.execute(  # versions unseen for a month will not be asked about again
                snapshot_version.delete()
                .where(snapshot_version.c.seen_at < _utc(now) - VERSION_MEMORY)
                .where(snapshot_version.c.version != version)
            )
            seen = conn.execute(
                sa.select(snapshot_version.c.seen_at).where(snapshot_version.c.version == version)
            ).scalar_one()
        return _utc(seen)

    def mirror_version(self, version: str, seen_at: datetime) -> None:
        """Write when ``version`` was first served, as the database says (a standby's copy)."""
        statement = _insert(self.engine)(snapshot_version)
        upsert = statement.on_conflict_do_update(
            index_elements=["version"], set_={"seen_at": statement.excluded.seen_at}
        )
        with self._writer.begin() as conn:
            conn.execute(upsert, {"version": version, "seen_at": _utc(seen_at)})

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1
