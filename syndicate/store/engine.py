"""The database: one SQLAlchemy engine over SQLite (default) or PostgreSQL, its schema under Alembic
(``migrations/``), and the posting state and parse cache over it (``postings``, ``cache``). The outbox's
queue and log are in ``outbox`` and ``log``; every table is in ``tables``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from syndicate.store.cache import ParseCache
from syndicate.store.postings import PostingRecords

MIGRATIONS = Path(__file__).with_name("migrations")


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


class Store(PostingRecords, ParseCache):
    """Access to the database; safe to share between threads of one process. ``timeout``: seconds
    a connection attempt (and, on PostgreSQL, an unanswered write) may take before it fails."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url
        self.engine = sa.create_engine(url, **_engine_options(url, timeout))
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        # write transactions take SQLite's write lock up front (BEGIN IMMEDIATE),
        # so two processes never deadlock upgrading a read lock.
        self.writer = self.engine.execution_options(syndicate_write=True)

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

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to the newest revision (or to ``revision``); safe when processes start together."""
        with self._migration_lock() as conn:
            config = _migration_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    def schema(self) -> Schema:
        """Where the schema stands (raises when the database cannot be reached)."""
        with self.engine.connect() as conn:
            return Schema(MigrationContext.configure(conn).get_current_revision(), HEAD)

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext('syndicate-migrate:' || current_schema()))")
                )
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

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT 1")).scalar() == 1
