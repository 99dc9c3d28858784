"""The last good version: a file that served a posting and no longer reads keeps serving that posting.

Everything that serves or pushes it (pages, feeds, the sitemap, the API, the boards) keeps agreeing,
and a job seeker following a board's link does not land on "not found" because of a typo. The file's
errors stay reported (lint, the log, ``/healthz`` as degraded, ``/metrics``) until it is fixed; deleting
it, or ``status: closed``, still closes the posting. A file that never read stays out, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from syndicate.model import Posting
from syndicate.postings.reader import ReadResult, result_from_json
from syndicate.postings.snapshot import Snapshot
from syndicate.store.cache import CacheEntry

ReadAgain = Callable[[str, str], ReadResult]  # (source, the file's last good text) -> read by this version


def keep_last_good(
    results: dict[str, ReadResult],
    cached: Mapping[str, list[CacheEntry]],
    before: Snapshot,
    stamp_prefix: str,
    read_again: ReadAgain | None = None,
) -> dict[str, str]:
    """Turn each broken file's result that has a last good posting into a *stale* result: that posting
    with the file's errors. Its source is the parse cache, which keeps a broken file's last reading
    (every process and a restart see it alike): this parser version's reading, else (after an upgrade,
    or a changed time zone or bound) the file's last good text read again by ``read_again``; without
    the database, the posting ``before`` served. Returns the cache key to keep per file
    (``ParseCache.cache_results``'s ``kept``)."""
    kept: dict[str, str] = {}
    for source, result in results.items():
        if result.posting is not None or not result.errors:
            continue
        good = _this_version(source, cached.get(source, ()), stamp_prefix, kept)
        if good is None and read_again is not None:
            good = _read_again(source, cached.get(source, ()), read_again, kept)
        if good is None:
            good = _served_before(source, before)
        if good is not None:
            results[source] = ReadResult(source, good, result.problems)
    return kept


def _this_version(source: str, entries: list[CacheEntry], prefix: str, kept: dict[str, str]) -> Posting | None:
    for entry in entries:
        if not entry.stamp.startswith(prefix):
            continue  # another parser version's reading (or a marker): its record is not this version's
        good = result_from_json(source, entry.result, entry.html).posting
        if good is not None:
            kept[source] = entry.key
            return good
    return None


def _read_again(source: str, entries: list[CacheEntry], read_again: ReadAgain, kept: dict[str, str]) -> Posting | None:
    for entry in entries:
        if entry.file_text is None:
            continue  # a marker, a broken reading, or an entry made before the text was kept
        good = read_again(source, entry.file_text).posting
        if good is not None:  # a bound this version added may refuse it: then there is none
            kept[source] = entry.key
            return good
    return None


def _served_before(source: str, before: Snapshot) -> Posting | None:
    previous = before.results.get(source)
    if previous is None or previous.posting is None:
        return None
    served = before.postings.get(previous.posting.id)
    return served if served is not None and served.source == source else previous.posting
