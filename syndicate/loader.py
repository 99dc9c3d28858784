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
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from .model import Posting
from .parallel import parse_many
from .reader import ERROR, Problem, ReadResult, read_posting, rejected_file, result_from_json
from .store import CacheEntry, Seen, Store

log = logging.getLogger(__name__)

EXTENSIONS = (".md", ".markdown", ".txt")
_EXTENSIONS = EXTENSIONS
# Bump when parsing or rendering changes, so cached results of older code are not used.
PARSER_VERSION = "1"

# (mtime_ns, ctime_ns, size, inode): a file whose stamp is unchanged is not re-read. ctime moves
# on every write or rename and cannot be set back, so a same-size edit with a restored mtime shows.
Stamp = tuple[int, int, int, int]


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_posting_name(name: str) -> bool:
    """Posting files by extension; hidden files and editor debris are not postings.

    Skipped: ``.x.swp`` and ``.#x.md`` (hidden: Vim swap, Emacs lock), ``#x.md#``
    (Emacs autosave), ``x.md~`` (backup: the extension is not the last thing).
    """
    return not name.startswith((".", "#")) and name.lower().endswith(_EXTENSIONS)


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 come back as surrogates
        return False
    return True


def scan(root: Path, unusable: list[str] | None = None) -> dict[str, Stamp]:
    """Every posting file below ``root`` with its stamp: one ``stat`` per file, no reads.

    Symbolic links are followed only to files inside ``root``; linked folders
    are not entered (they would list the same files twice); only regular files
    count. Files whose names are not UTF-8 text are listed in ``unusable``. This
    loop is the whole cost of a no-change check, so it does no more than it must.
    """
    real_root = os.path.realpath(root)
    found: dict[str, Stamp] = {}
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            continue
        try:
            # listing by descriptor makes each stat relative to it (fstatat): no path walk per file
            entries = list(os.scandir(fd))
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            entries = []
        try:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "#")):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((os.path.join(folder, name), f"{prefix}{name}/"))
                        continue
                    if not name.lower().endswith(_EXTENSIONS):
                        continue
                    if entry.is_symlink():
                        target = os.path.realpath(os.path.join(folder, name))
                        if os.path.commonpath([real_root, target]) != real_root or not os.path.isfile(target):
                            continue
                    st = entry.stat()  # follows a link inside the root to its file
                except OSError:
                    continue  # removed while we looked: it is simply not there
                if not stat.S_ISREG(st.st_mode):
                    continue  # a FIFO or device named x.md would block the reader
                if not name.isprintable() or not _encodable(name):
                    if unusable is not None:
                        unusable.append(f"{prefix}{name}".encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                    continue
                found[f"{prefix}{name}"] = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        finally:
            os.close(fd)
    return found


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the postings folder. Never mutated."""

    version: str
    generation: int
    loaded_at: datetime
    postings: Mapping[str, Posting]  # id -> posting, every status
    problems: tuple[Problem, ...]
    results: Mapping[str, ReadResult] = field(repr=False)  # source -> what the file yielded
    digests: Mapping[str, int] = field(repr=False)  # id -> its part of the version
    duplicates: Mapping[str, tuple[Problem, ...]] = field(repr=False)  # id -> files left out for it

    def get(self, posting_id: str) -> Posting | None:
        return self.postings.get(posting_id)

    def open_postings(self, now: datetime) -> list[Posting]:
        """Open postings at ``now``, newest first (ties: by id)."""
        live = [p for p in self.postings.values() if p.is_open_at(now)]
        live.sort(key=lambda p: p.id)
        live.sort(key=lambda p: p.date_posted, reverse=True)
        return live

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level == ERROR)


def read_bytes(root: Path, source: str, max_bytes: int) -> bytes | ReadResult | None:
    """The file's bytes; a rejection if it is too large or unreadable; ``None`` if it is gone."""
    try:
        fd = os.open(root / source, os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO swapped in
    except FileNotFoundError:
        return None  # removed since the scan; the next scan drops it
    except OSError as exc:
        return rejected_file(source, "file", f"cannot read the file: {exc.strerror or exc}")
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            return rejected_file(
                source,
                "file",
                f"the file is {size} bytes, over the limit of {max_bytes} (SYNDICATE_MAX_POSTING_BYTES)",
            )
        chunks = []
        while chunk := os.read(fd, max_bytes + 1):  # plain os.read: a third of open()'s cost per file
            chunks.append(chunk)
            if sum(map(len, chunks)) > max_bytes:
                break
        return b"".join(chunks)
    except FileNotFoundError:
        return None  # removed since the scan; the next scan drops it
    except OSError as exc:
        return rejected_file(source, "file", f"cannot read the file: {exc.strerror or exc}")
    finally:
        os.close(fd)


def read_folder(root: Path, tz: tzinfo, max_bytes: int) -> dict[str, ReadResult]:
    """Read every posting file below ``root`` without the store (what lint uses)."""
    results: dict[str, ReadResult] = {}
    unusable: list[str] = []
    stamps = scan(root, unusable)
    for name in unusable:
        results[name] = rejected_file(name, "file", "the file name is not printable UTF-8 text; rename the file")
    for source in sorted(stamps):
        raw = read_bytes(root, source, max_bytes)
        if raw is not None:
            results[source] = raw if isinstance(raw, ReadResult) else read_posting(raw, source, tz)
    return results


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A load makes many long-lived objects and no cycles; full collections over them
    would cost half of a warm start."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # what a load leaves alive lives long: keep it out of later collections (it is
        # still freed by reference counting when a newer snapshot replaces it)
        gc.freeze()
        if was_enabled:
            gc.enable()


# File times advance in clock ticks (often 4 ms): a file written again within the tick of an
# earlier read can keep its stamp. As git does with its index, a stamp that recent is not
# trusted: it is recorded as unknown, so the file is looked at again (by the hash of its
# bytes, so nothing is parsed twice) until its stamp is old enough to mean something.
RACY_NS = 100_000_000
UNKNOWN = -1


def _distrust_racy(stamps: dict[str, Stamp], now_ns: int) -> dict[str, Stamp]:
    for source, (mtime, ctime, size, inode) in stamps.items():
        if max(mtime, ctime) >= now_ns - RACY_NS:
            stamps[source] = (UNKNOWN, ctime, size, inode)
    return stamps


def stamp_text(stamp: Stamp, tz: tzinfo) -> str:
    """A file's stamp as the parse cache keeps it: a cached result counts only for the
    same file state, parser version and time zone."""
    return f"{PARSER_VERSION}:{tz}:%d:%d:%d:%d" % stamp


EMPTY = Snapshot("0" * 16, 0, datetime.min.replace(tzinfo=UTC), MappingProxyType({}), (), {}, {}, {})
INCREMENTAL_UP_TO = 256  # changed files; beyond this a reload rebuilds the whole snapshot


def cache_key(source: str, raw: bytes, tz: tzinfo) -> str:
    digest = hashlib.sha256(f"{PARSER_VERSION}\0{tz}\0{source}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


class PostingLoader:
    """Owns the current snapshot of one postings folder."""

    def __init__(
        self,
        root: Path,
        store: Store,
        tz: tzinfo,
        max_bytes: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.root = Path(root)
        self.store = store
        self.tz = tz
        self.max_bytes = max_bytes
        self.clock = clock
        self._snapshot = EMPTY
        self._stamps: dict[str, Stamp] = {}  # what the last scan saw; guarded by _lock
        self._unsure: frozenset[str] = frozenset()  # files whose stamp was too recent to trust
        self._unusable: frozenset[str] = frozenset()  # names that are not UTF-8, already reported
        self._lock = threading.Lock()
        self._last_check = float("-inf")

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def maybe_refresh(self, interval: float) -> Snapshot:
        """Refresh if ``interval`` seconds passed since the last check; never waits on another refresh."""
        if time.monotonic() - self._last_check < interval:
            return self._snapshot
        if not self._lock.acquire(blocking=False):
            return self._snapshot  # another thread is refreshing: serve what is current
        try:
            return self._refresh_locked()
        finally:
            self._lock.release()

    def refresh(self) -> Snapshot:
        """Check the folder now and apply any change; returns the current snapshot."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> Snapshot:
        with _gc_paused():
            return self._refresh_unpaused()

    def _refresh_unpaused(self) -> Snapshot:
        self._last_check = time.monotonic()
        old = self._snapshot
        unusable: list[str] = []
        stamps = _distrust_racy(scan(self.root, unusable) if self.root.is_dir() else {}, time.time_ns())
        for name in set(unusable) - self._unusable:
            log.warning("posting %s: file: error: the file name is not printable UTF-8 text; rename the file", name)
        self._unusable = frozenset(unusable)
        if stamps == self._stamps and old is not EMPTY and not self._unsure:
            return old
        changed = [s for s, stamp in stamps.items() if self._stamps.get(s) != stamp or s in self._unsure]
        removed = [s for s in self._stamps if s not in stamps]
        fresh = self._read(changed, stamps)
        self._stamps = stamps
        self._unsure = frozenset(source for source, stamp in stamps.items() if stamp[0] == UNKNOWN)
        results = dict(old.results)
        for source in (*removed, *changed):  # a changed file that vanished while read is dropped too
            results.pop(source, None)
        results.update(fresh)
        new = self._build(old, results, {*changed, *removed})
        if old is not EMPTY and _same_content(old, new):
            return old  # touched, or re-read because its stamp was unsure: keep the snapshot (and its caches)
        for source in sorted(fresh):
            if not _same_result(old.results.get(source), fresh[source]):
                for problem in fresh[source].problems:
                    log.log(logging.WARNING if problem.level == ERROR else logging.INFO, "posting %s", problem)
        self._snapshot = new
        if old is not EMPTY:
            log.info("postings reloaded: %d file(s) changed, version %s", len(changed), new.version)
        return new

    def _stamp_text(self, stamp: Stamp) -> str:
        return stamp_text(stamp, self.tz)

    # --- reading files ------------------------------------------------------------

    def _read(self, sources: list[str], stamps: Mapping[str, Stamp]) -> dict[str, ReadResult]:
        """Read results for ``sources``: from the cache when the file is unchanged, else parsed."""
        results: dict[str, ReadResult] = {}
        keep: list[CacheEntry] = []  # entries to (re)write: new parses, and known bytes under a new stamp
        by_source = self.store.cached_by_source(sources)
        raw_by_key: dict[str, tuple[str, bytes]] = {}
        for source in sources:
            stamp = self._stamp_text(stamps[source])
            entry = by_source.get(source)
            if entry is not None and entry.stamp == stamp and stamps[source][0] != UNKNOWN:
                results[source] = result_from_json(source, entry.result, entry.html)
                continue
            raw = read_bytes(self.root, source, self.max_bytes)
            if isinstance(raw, ReadResult):
                results[source] = raw
            elif raw is not None:
                raw_by_key[cache_key(source, raw, self.tz)] = (source, raw)
        by_key = self.store.cached_by_key(raw_by_key) if raw_by_key else {}
        misses = [(key, source, raw) for key, (source, raw) in raw_by_key.items() if key not in by_key]
        parsed = parse_many([(source, raw) for _, source, raw in misses], self.tz)
        for (key, source, _), (result, text, html) in zip(misses, parsed, strict=True):
            results[source] = result
            keep.append(CacheEntry(key, source, self._stamp_text(stamps[source]), text, html))
        for key, entry in by_key.items():
            source = raw_by_key[key][0]
            results[source] = result_from_json(source, entry.result, entry.html)
            keep.append(CacheEntry(key, source, self._stamp_text(stamps[source]), entry.result, entry.html))
        self.store.cache_results(keep, replaced=by_source)
        return results

    # --- building a snapshot ------------------------------------------------------

    def _build(self, old: Snapshot, results: dict[str, ReadResult], touched: set[str]) -> Snapshot:
        incremental = old is not EMPTY and len(touched) <= INCREMENTAL_UP_TO
        if incremental:
            winners, duplicates, affected = resolve_changes(results, old, touched)
            digests = dict(old.digests)
            kept = [p for p in old.problems[: _parse_problem_count(old)] if p.file not in touched]
            fresh = [p for source in touched if source in results for p in results[source].problems]
            parse_problems = sorted(kept + fresh, key=lambda p: p.file)  # stable: a file's own order stays
        else:
            winners, duplicates = resolve_duplicates(results, old)
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
                digests[pid] = _digest(winners[pid])
        problems = parse_problems + [p for pid in sorted(duplicates) for p in duplicates[pid]]
        return Snapshot(
            version=_version(digests),
            generation=old.generation + 1,
            loaded_at=self.clock(),
            postings=MappingProxyType(winners),
            problems=tuple(problems),
            results=MappingProxyType(results),
            digests=MappingProxyType(digests),
            duplicates=MappingProxyType(duplicates),
        )

    def _date(self, winners: dict[str, Posting], old: Snapshot, ids: Iterable[str]) -> None:
        """Give each newly read posting its dates from the store, which records it as first
        seen or changed now if that is news, and otherwise answers what it has."""
        # every posting read again asks the store, even with content this process served
        # before: another process may have seen an edit in between, and all must agree
        ask = [p for pid in ids if (p := winners.get(pid)) is not None and p is not old.postings.get(pid)]
        if not ask:
            return
        found = self.store.record_postings((Seen(p.id, p.content_hash, p.date_posted) for p in ask), self.clock())
        for posting in ask:
            dates = found[posting.id]
            posted = posting.date_posted if posting.date_posted_given else dates.first_seen
            winners[posting.id] = _with_dates(posting, posted, max(dates.changed_at, posted))  # type: ignore[arg-type]


def _with_dates(posting: Posting, date_posted: datetime, updated: datetime) -> Posting:
    if not posting.is_dated:
        posting.set_dates(date_posted, updated)  # the usual case: a posting just read
        return posting
    if (posting.date_posted, posting.updated) == (date_posted, updated):
        return posting
    return replace(posting, date_posted=date_posted, updated=updated)  # rare: a served file's duplicate won back


def _same_content(old: Snapshot, new: Snapshot) -> bool:
    return new.version == old.version and new.problems == old.problems and new.postings == old.postings


def _same_result(before: ReadResult | None, now: ReadResult) -> bool:
    if before is None or before.problems != now.problems:
        return False
    if before.posting is None or now.posting is None:
        return before.posting is now.posting
    return (before.posting.id, before.posting.content_hash) == (now.posting.id, now.posting.content_hash)


def _parse_problem_count(snapshot: Snapshot) -> int:
    return len(snapshot.problems) - sum(len(v) for v in snapshot.duplicates.values())


def _digest(posting: Posting) -> int:
    posted, updated = posting.date_posted.timestamp(), posting.updated.timestamp()  # type: ignore[union-attr]
    text = f"{posting.id}\0{posting.content_hash}\0{posted}\0{updated}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _version(digests: Mapping[str, int]) -> str:
    """Same served postings, same version, in every process: an order-free combination
    (ids are unique, so XOR of per-posting digests cannot cancel out)."""
    combined = len(digests)
    for value in digests.values():
        combined ^= value
    return f"{combined:016x}"


def _pick(posting_id: str, candidates: list[Posting], served_source: str | None) -> tuple[Posting, tuple[Problem, ...]]:
    """The contract's rule: the file already served keeps the id; among new files the one
    whose stem equals the id wins, then the first by path. The others are reported."""
    ordered = sorted(
        candidates,
        key=lambda p: (p.source != served_source, PurePosixPath(p.source).stem != posting_id, p.source),
    )
    winner = ordered[0]
    message = f"duplicate id {posting_id!r}: already used by {winner.source}; this file is left out"
    return winner, tuple(Problem(p.source, posting_id, ERROR, "id", message) for p in ordered[1:])


def resolve_duplicates(
    results: Mapping[str, ReadResult], old: Snapshot
) -> tuple[dict[str, Posting], dict[str, tuple[Problem, ...]]]:
    """One posting per id over all ``results``; the files left out, per id."""
    winners: dict[str, Posting] = {}
    clashes: dict[str, list[Posting]] = {}
    for result in results.values():
        posting = result.posting
        if posting is None:
            continue
        if posting.id in winners:
            clashes.setdefault(posting.id, [winners[posting.id]]).append(posting)
        else:
            winners[posting.id] = posting
    duplicates: dict[str, tuple[Problem, ...]] = {}
    for posting_id, candidates in clashes.items():
        served = old.postings.get(posting_id)
        winners[posting_id], duplicates[posting_id] = _pick(posting_id, candidates, served.source if served else None)
    return winners, duplicates


def resolve_changes(
    results: Mapping[str, ReadResult], old: Snapshot, touched: set[str]
) -> tuple[dict[str, Posting], dict[str, tuple[Problem, ...]], set[str]]:
    """What ``resolve_duplicates`` gives, computed from ``old`` for the ids that ``touched``
    files had or have now (also returned): a one-file reload need not look at every file."""
    affected = set()
    for source in touched:
        for result in (old.results.get(source), results.get(source)):
            if result is not None and result.posting is not None:
                affected.add(result.posting.id)
    winners = dict(old.postings)
    duplicates = {pid: problems for pid, problems in old.duplicates.items() if pid not in affected}
    for pid in affected:
        served = old.postings.get(pid)
        # every untouched file with this id was the served one or one left out for it
        sources = {p.file for p in old.duplicates.get(pid, ())}
        if served is not None:
            sources.add(served.source)
        sources -= touched
        sources |= {s for s in touched if (r := results.get(s)) is not None and r.posting and r.posting.id == pid}
        candidates = [results[s].posting for s in sorted(sources)]
        if not candidates:
            winners.pop(pid, None)
        elif len(candidates) == 1:
            winners[pid] = candidates[0]  # type: ignore[assignment]
        else:
            winners[pid], duplicates[pid] = _pick(pid, candidates, served.source if served else None)  # type: ignore[arg-type]
    return winners, duplicates, affected
