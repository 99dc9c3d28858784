"""What the server still serves for broken files, as lint tells their author (the *stale* mark).

Read only, from the parse cache of the configured database, and only when lint checks the served
folder and something there is broken: a clean folder is linted without touching a database. A
database that is not there (no SQLite file yet, a server away) is no answer, never an error.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from syndicate.model import Posting
from syndicate.postings.reader import ReadResult
from syndicate.settings import Settings

if TYPE_CHECKING:
    from syndicate.store.cache import CacheEntry

log = logging.getLogger(__name__)
TIMEOUT = 1.0  # seconds lint waits for a database before it reports without the stale mark


def stale_versions(settings: Settings, root: Path, results: Mapping[str, ReadResult]) -> dict[str, Posting]:
    """Of the broken files in ``results`` (read from ``root``), those whose last good posting the server
    still serves, with that posting."""
    broken = sorted(source for source, result in results.items() if result.posting is None and result.errors)
    if not broken or not _same_folder(root, settings.postings_dir):
        return {}
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return {}  # never made: nothing served from it (and lint must not make one)
    # only now: lint of a clean folder imports no database code
    from syndicate.postings.lastgood import keep_last_good
    from syndicate.postings.loader import stamp_prefix
    from syndicate.postings.snapshot import EMPTY

    try:
        cached = _cached_read_only(url, broken)
    except Exception as exc:  # no driver, a URL none takes, a server away: no answer; lint reports
        log.debug("no stale mark: the database cannot be read (%s: %s)", type(exc).__name__, exc)
        return {}
    found = {source: results[source] for source in broken}
    from syndicate.postings.reader import read_posting

    def read_again(source: str, text: str) -> ReadResult:  # another parser version's last good text
        return read_posting(text.encode("utf-8"), source, settings.tzinfo, settings.limits)

    keep_last_good(found, cached, EMPTY, stamp_prefix(settings.tzinfo, settings.limits), read_again)
    return {source: result.posting for source, result in found.items() if result.posting is not None}


def _cached_read_only(url: str, sources: list[str]) -> dict[str, list[CacheEntry]]:
    """The parse cache entries of ``sources``, read without writing: a SQLite file opened read only
    (no journal mode or other pragma set, no file made), PostgreSQL in read-only transactions; each
    waits at most ``TIMEOUT`` for a connection or a lock."""
    import sqlalchemy as sa

    from syndicate.store.cache import ParseCache

    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            return {}  # nothing a server shares with lint
        uri = f"file:{quote(os.path.abspath(database))}?mode=ro"
        engine = sa.create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=TIMEOUT, check_same_thread=False)
        )
    elif backend == "postgresql":
        seconds = max(1, round(TIMEOUT))
        options = " ".join(
            part
            for part in (
                parsed.query.get("options"),
                "-c default_transaction_read_only=on",
                f"-c statement_timeout={seconds * 1000}",
                f"-c lock_timeout={seconds * 1000}",
            )
            if part
        )
        engine = sa.create_engine(parsed, connect_args={"connect_timeout": seconds, "options": options})
    else:
        engine = sa.create_engine(parsed)
    cache = ParseCache()  # its query, over lint's own engine (a mixin: ``engine`` is all it reads)
    cache.engine = engine
    try:
        return cache.cached_by_source(sources)
    finally:
        engine.dispose()


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
