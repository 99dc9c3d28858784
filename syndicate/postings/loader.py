"""Loading the postings folder into immutable snapshots, and reloading it live.

A cheap stat scan finds changed, added and removed files; only those are read,
and a file whose bytes were parsed before (by this or another process) comes
from the parse cache. Each load builds a new ``Snapshot`` and swaps it in with
one assignment, so a reader never sees a half-updated set.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, tzinfo
from pathlib import Path
from types import MappingProxyType

from syndicate.clock import Clock, system_clock
from syndicate.model import Posting
from syndicate.postings import files
from syndicate.postings.files import UNKNOWN, Stamp, distrust_racy, read_bytes, scan
from syndicate.postings.lastgood import keep_last_good
from syndicate.postings.limits import DEFAULT_LIMITS, Limits
from syndicate.postings.parallel import parse_many
from syndicate.postings.reader import ERROR, Problem, ReadResult, read_posting, result_from_json
from syndicate.postings.record import current_parser_version
from syndicate.postings.snapshot import (
    EMPTY,
    Snapshot,
    is_stale,
    parse_problem_count,
    posting_digest,
    resolve_changes,
    resolve_duplicates,
    same_content,
    same_result,
    version_of,
)
from syndicate.store.cache import CacheEntry
from syndicate.store.database import Database
from syndicate.store.dates import Dates
from syndicate.store.engine import Store
from syndicate.store.postings import Seen

log = logging.getLogger(__name__)


@contextmanager
def _gc_paused(freeze: bool) -> Iterator[None]:
    """A load makes many long-lived objects and no cycles; full collections over them
    would cost half of a warm start. With ``freeze``, what exists at the end is moved out
    of the collector's sight before it runs again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:  # only after a load that succeeded: a failed one leaves nothing worth keeping
            gc.freeze()
    finally:
        if was_enabled:
            gc.enable()


INCREMENTAL_UP_TO = 256  # changed files; beyond this a reload rebuilds the whole snapshot


def cache_key(source: str, raw: bytes, tz: tzinfo, limits: Limits = DEFAULT_LIMITS) -> str:
    digest = hashlib.sha256(f"{current_parser_version()}\0{tz}\0{limits.cache_text()}\0{source}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


def stamp_prefix(tz: tzinfo, limits: Limits = DEFAULT_LIMITS) -> str:
    """How every stamp the parse cache keeps for this parser version, time zone and bounds begins."""
    return f"{current_parser_version()}:{tz}:{limits.cache_text()}:"


def _file_text(raw: bytes, result: ReadResult) -> str | None:
    """What the parse cache keeps of a file that read well: its text, so that another parser version
    can read its last good version again while the file is broken (nothing of a broken file)."""
    if result.posting is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class PostingLoader:
    """Owns the current snapshot of one postings folder."""

    def __init__(
        self,
        root: Path,
        store: Store,
        tz: tzinfo,
        max_bytes: int,
        clock: Clock = system_clock,
        limits: Limits = DEFAULT_LIMITS,
        database: Database | None = None,
        dates: Dates | None = None,
    ) -> None:
        self.root = Path(root)
        self.store = store
        self.database = database or Database(store)
        self.dates = dates or Dates(self.database)
        self.tz = tz
        self.max_bytes = max_bytes
        self.clock = clock
        self.limits = limits
        self._stamp_prefix = stamp_prefix(tz, limits)
        self._snapshot = EMPTY
        self._stamps: dict[str, Stamp] = {}  # what the last scan saw; guarded by _lock
        self._unsure: frozenset[str] = frozenset()  # files whose stamp was too recent to trust
        self._unusable: frozenset[str] = frozenset()  # names that are not UTF-8, already reported
        self._lock = threading.Lock()
        self._last_check = float("-inf")
        self._parsed_first: set[str] = set()
        self._uncached: dict[str, str] = {}  # file -> stamp, of files the last read refused to parse (too large...)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def rejected_files(self) -> set[str]:
        """Files left out of every output: those with errors that never read, and names that are
        not UTF-8. A broken file still serving its last good version is *stale*, not rejected."""
        return ({p.file for p in self._snapshot.errors} - set(self._snapshot.stale)) | self._unusable

    def maybe_refresh(self, interval: float) -> Snapshot:
        """Refresh if ``interval`` seconds passed since the last check; never waits on another
        refresh, and never fails a request: a reload that fails (the database away) is logged,
        the current snapshot keeps serving, and the next check tries again."""
        if time.monotonic() - self._last_check < interval:
            return self._snapshot
        if not self._lock.acquire(blocking=False):
            return self._snapshot  # another thread is refreshing: serve what is current
        try:
            return self._refresh_locked()
        except Exception:
            log.exception("reloading the postings failed; still serving version %s", self._snapshot.version)
            return self._snapshot
        finally:
            self._lock.release()

    def refresh(self) -> Snapshot:
        """Check the folder now and apply any change; returns the current snapshot."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> Snapshot:
        # what the first load leaves alive lives as long as the process: it is kept out of
        # later collections (reference counting still frees it when replaced). Only once:
        # freezing on every check would also freeze other threads' garbage.
        with _gc_paused(freeze=self._snapshot is EMPTY):
            return self._refresh_unpaused()

    def _refresh_unpaused(self) -> Snapshot:
        self._last_check = time.monotonic()
        old = self._snapshot
        unusable: list[str] = []
        scanned = scan(self.root, unusable) if self.root.is_dir() else {}
        stamps = distrust_racy(scanned, time.time_ns(), files.RACY_NS)
        self._report_unusable(set(unusable) - self._unusable)
        self._unusable = frozenset(unusable)
        if stamps == self._stamps and old is not EMPTY and not self._unsure:
            return old
        changed = [s for s, stamp in stamps.items() if self._stamps.get(s) != stamp or s in self._unsure]
        removed = [s for s in self._stamps if s not in stamps]
        fresh = self._read(changed, stamps)
        results = dict(old.results)
        for source in (*removed, *changed):  # a changed file that vanished while read is dropped too
            results.pop(source, None)
        results.update(fresh)
        new = self._build(old, results, {*changed, *removed})
        # only now that the new state is built are the stamps it came from remembered:
        # a build that fails (the database away) leaves them to be read again next time
        self._stamps = stamps
        self._unsure = frozenset(source for source, stamp in stamps.items() if stamp[0] == UNKNOWN)
        news = [source for source in sorted(fresh) if not same_result(old.results.get(source), fresh[source])]
        if old is not EMPTY and not news and len(fresh) == len(changed) and not removed and same_content(old, new):
            return old  # touched, or re-read because its stamp was unsure: keep the snapshot (and its caches)
        rejected = self._first_to_report({s: self._uncached[s] for s in news if s in self._uncached})
        for source in news:
            if fresh[source].problems and (source in self._parsed_first or source in rejected):
                report_problems(source, fresh[source].problems, stale=is_stale(fresh[source]))
        if removed:
            self.database.call(lambda: self.store.forget_sources(removed), None)
        self._snapshot = new
        if old is not EMPTY:
            log.info("postings reloaded: %d file(s) changed, version %s", len(changed), new.version)
        return new

    def _report_unusable(self, names: set[str]) -> None:
        """Log each new unusable file name once, in the one process that records it first (the parse
        cache keeps a marker per name, as it keeps each parsed file)."""
        if not names:
            return
        marks = {hashlib.sha256(f"unusable\0{name}".encode()).hexdigest(): name for name in sorted(names)}
        entries = [CacheEntry(key, name, "unusable", "[null, []]", None) for key, name in marks.items()]
        first = self.database.call(lambda: self.store.cache_results(entries), None)
        for key, name in marks.items():
            if first is None or key in first:
                log.warning("posting %s: file: error: %s", name, files.UNUSABLE_NAME)

    def _first_to_report(self, refused: Mapping[str, str]) -> set[str]:
        """Of files refused before parsing (by file, its stamp), those this process is the first to
        report in this state: the parse cache keeps a marker per file and stamp, as it keeps each
        parse, so one process of those sharing it logs the file once per change."""
        if not refused:
            return set()
        marks = {
            hashlib.sha256(f"refused\0{name}\0{stamp}".encode()).hexdigest(): name for name, stamp in refused.items()
        }
        entries = [CacheEntry(key, name, "refused", "[null, []]", None) for key, name in marks.items()]
        first = self.database.call(lambda: self.store.cache_results(entries), None)
        return {name for key, name in marks.items() if first is None or key in first}

    def _stamp_text(self, stamp: Stamp) -> str:
        """A file's stamp as the parse cache keeps it: a cached result counts only for the
        same file state, parser version and time zone."""
        return self._stamp_prefix + ":".join(map(str, stamp))

    # --- reading files ------------------------------------------------------------

    def _read_again(self, source: str, text: str) -> ReadResult:
        """A file's last good text read by this parser version (``keep_last_good``)."""
        return read_posting(text.encode("utf-8"), source, self.tz, self.limits)

    def _read(self, sources: list[str], stamps: Mapping[str, Stamp]) -> dict[str, ReadResult]:
        """Read results for ``sources``: from the cache when the file is unchanged, else parsed. Files
        this process parsed first (of every process sharing the cache) are in ``_parsed_first``: their
        problems are reported here, and only here. A file that served a posting and no longer reads
        keeps serving its last good version (see ``_keep_last_good``)."""
        results: dict[str, ReadResult] = {}
        keep: list[CacheEntry] = []  # entries to (re)write: new parses, and known bytes under a new stamp
        cache = self.database.call
        by_source = cache(lambda: self.store.cached_by_source(sources), {})
        raw_by_key: dict[str, tuple[str, bytes]] = {}
        stamp = {source: self._stamp_text(stamps[source]) for source in sources}
        self._uncached = {}
        for source in sources:
            entry = next((e for e in by_source.get(source, ()) if e.stamp == stamp[source]), None)
            if entry is not None and stamps[source][0] != UNKNOWN:
                results[source] = result_from_json(source, entry.result, entry.html)
                continue
            raw = read_bytes(self.root, source, self.max_bytes)
            if isinstance(raw, ReadResult):
                results[source] = raw
                # too large or unreadable: nothing to cache. Its marker is its stamp with the mtime left out (as
                # a stamp too recent to trust has it), so processes that read it early or late agree on it
                self._uncached[source] = self._stamp_text((UNKNOWN, *stamps[source][1:]))
            elif raw is not None:
                raw_by_key[cache_key(source, raw, self.tz, self.limits)] = (source, raw)
        by_key = cache(lambda: self.store.cached_by_key(raw_by_key), {}) if raw_by_key else {}
        misses = [(key, source, raw) for key, (source, raw) in raw_by_key.items() if key not in by_key]
        parsed = parse_many([(source, raw) for _, source, raw in misses], self.tz, self.limits)
        for (key, source, raw), (result, text, html) in zip(misses, parsed, strict=True):
            results[source] = result
            keep.append(CacheEntry(key, source, stamp[source], text, html, _file_text(raw, result)))
        for key, entry in by_key.items():
            source, raw = raw_by_key[key]
            results[source] = result_from_json(source, entry.result, entry.html)
            file_text = entry.file_text or _file_text(raw, results[source])
            keep.append(CacheEntry(key, source, stamp[source], entry.result, entry.html, file_text))
        kept = keep_last_good(results, by_source, self._snapshot, self._stamp_prefix, self._read_again)
        first = cache(lambda: self.store.cache_results(keep, replaced=by_source, kept=kept), None)
        parsed = {source for _, source, _ in misses}
        # without the cache no process can tell who was first: each reports what it parsed
        self._parsed_first = parsed if first is None else {s for key, s, _ in misses if key in first}
        return results

    # --- building a snapshot ------------------------------------------------------

    def _build(self, old: Snapshot, results: dict[str, ReadResult], touched: set[str]) -> Snapshot:
        incremental = old is not EMPTY and len(touched) <= INCREMENTAL_UP_TO
        served = self._served
        if incremental:
            winners, duplicates, affected = resolve_changes(results, old, touched, served)
            digests = dict(old.digests)
            kept = [p for p in old.problems[: parse_problem_count(old)] if p.file not in touched]
            fresh = [p for source in touched if source in results for p in results[source].problems]
            parse_problems = sorted(kept + fresh, key=lambda p: p.file)  # stable: a file's own order stays
        else:
            winners, duplicates = resolve_duplicates(results, old, served)
            affected, digests = set(winners), {}
            with_problems = sorted(source for source, result in results.items() if result.problems)
            parse_problems = [p for source in with_problems for p in results[source].problems]
        self._date(winners, old, affected)
        for pid in affected:
            if pid not in winners:
                digests.pop(pid, None)
            elif old.postings.get(pid) is winners[pid] and pid in old.digests:
                digests[pid] = old.digests[pid]
            else:
                digests[pid] = posting_digest(winners[pid])
        problems = parse_problems + [p for pid in sorted(duplicates) for p in duplicates[pid]]
        return Snapshot(
            version=version_of(digests),
            generation=old.generation + 1,
            loaded_at=self.clock(),
            postings=MappingProxyType(winners),
            problems=tuple(problems),
            results=MappingProxyType(results),
            digests=MappingProxyType(digests),
            duplicates=MappingProxyType(duplicates),
        )

    def _served(self, posting_id: str) -> tuple[str, str] | None:
        return self.database.call(lambda: self.store.served(posting_id), None)

    def redate(self) -> Snapshot:
        """Record the dates given while the database was away, then date those postings again from
        it (another process may have recorded them first); a new snapshot if any date moved."""
        with self._lock:
            ids = self.dates.catch_up()
            old = self._snapshot
            postings = dict(old.postings)
            stale = [postings[pid] for pid in sorted(ids) if pid in postings]
            if not stale:
                return old
            seen = [Seen(p.id, p.content_hash, p.date_posted if p.date_posted_given else None, p.source) for p in stale]
            found = self.store.record_postings(seen, self.clock())
            digests = dict(old.digests)
            for posting in stale:
                dates = found[posting.id]
                posted = posting.date_posted if posting.date_posted_given else dates.first_seen
                postings[posting.id] = again = _with_dates(posting, posted, dates.changed_at)
                digests[posting.id] = posting_digest(again)
            if postings == dict(old.postings):
                return old
            self._snapshot = new = replace(
                old,
                version=version_of(digests),
                generation=old.generation + 1,
                loaded_at=self.clock(),
                postings=MappingProxyType(postings),
                digests=MappingProxyType(digests),
            )
            log.info("dates of %d posting(s) taken from the database again, version %s", len(stale), new.version)
            return new

    def _date(self, winners: dict[str, Posting], old: Snapshot, ids: Iterable[str]) -> None:
        """Give each newly read posting its dates from the store, which records it as first
        seen or changed now if that is news, and otherwise answers what it has."""
        # every posting read again asks the store, even with content this process served
        # before: another process may have seen an edit in between, and all must agree
        ask = [p for pid in ids if (p := winners.get(pid)) is not None and p is not old.postings.get(pid)]
        if not ask:
            return
        seen = (Seen(p.id, p.content_hash, p.date_posted, p.source) for p in ask)
        found = self.dates.record_postings(seen, self.clock())
        for posting in ask:
            dates = found[posting.id]
            posted = posting.date_posted if posting.date_posted_given else dates.first_seen
            winners[posting.id] = _with_dates(posting, posted, dates.changed_at)  # type: ignore[arg-type]


def report_problems(source: str, problems: Iterable[Problem], stale: bool = False) -> None:
    """One log line per file: its errors and warnings, unknown keys folded into one entry; ``stale``:
    the file served a posting, which keeps serving as it last read."""
    problems = list(problems)
    unknown = [p.field for p in problems if p.message.startswith("unknown key ")]
    parts = [f"{p.field}: {p.level}: {p.message}" for p in problems if not p.message.startswith("unknown key ")]
    if unknown:
        shown = ", ".join(unknown[:10]) + (", …" if len(unknown) > 10 else "")
        parts.append(f"warning: {len(unknown):,} unknown key{'s' if len(unknown) > 1 else ''}: {shown}")
    errors = sum(p.level == ERROR for p in problems)
    level = logging.WARNING if errors else logging.INFO
    summary = f"{errors} error(s), {len(problems) - errors} warning(s)"
    kept = "; still serving the last version that read, until the file is fixed or deleted" if stale else ""
    log.log(level, "posting %s: %s: %s%s", source, summary, "; ".join(parts), kept)


def _with_dates(posting: Posting, date_posted: datetime, updated: datetime) -> Posting:
    if not posting.is_dated:
        posting.set_dates(date_posted, updated)  # the usual case: a posting just read
        return posting
    if (posting.date_posted, posting.updated) == (date_posted, updated):
        return posting
    return replace(posting, date_posted=date_posted, updated=updated)  # rare: a served file's duplicate won back
