"""What the server still serves for broken files, as lint tells their author (the *stale* mark).

Read only, from the parse cache of the configured database, and only when lint checks the served
folder and something there is broken: a clean folder is linted without touching a database. A
database that is not there (no SQLite file yet, a server away) is no answer, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from syndicate.model import Posting
from syndicate.postings.reader import ReadResult
from syndicate.settings import Settings

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
    import sqlalchemy.exc as sa_exc  # only now: lint of a clean folder imports no database code

    from syndicate.postings.lastgood import keep_last_good
    from syndicate.postings.loader import stamp_prefix
    from syndicate.postings.snapshot import EMPTY
    from syndicate.store.engine import Store

    store = Store(url, timeout=TIMEOUT)
    try:
        cached = store.cached_by_source(broken)
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        log.debug("no stale mark: the database cannot be read (%s)", type(exc).__name__)
        return {}
    finally:
        store.close()
    found = {source: results[source] for source in broken}
    keep_last_good(found, cached, EMPTY, stamp_prefix(settings.tzinfo, settings.limits))
    return {source: result.posting for source, result in found.items() if result.posting is not None}


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
