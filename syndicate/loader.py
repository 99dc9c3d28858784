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
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
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


def scan(root: Path) -> dict[str, Stamp]:
    """Every posting file below ``root`` with its stamp: one ``stat`` per file, no reads.

    Symbolic links are followed only to files inside ``root``; linked folders
    are not entered (they would list the same files twice). This loop is the
    whole cost of a no-change check, so it does no more than it must.
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
    stamps: Mapping[str, Stamp] = field(repr=False)
    results: Mapping[str, ReadResult] = field(repr=False)  # source -> what the file yielded
    digests: Mapping[str, int] = field(repr=False)  # id -> its part of the version

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
        fd = os.open(root / source, os.O_RDONLY)
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
    for source in sorted(scan(root)):
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
        if was_enabled:
            gc.enable()


def _stamp_text(stamp: Stamp) -> str:
    return ":".join(map(str, stamp))


EMPTY = Snapshot("0" * 16, 0, datetime.min.replace(tzinfo=UTC), MappingProxyType({}), (), {}, {}, {})


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
        stamps = scan(self.root) if self.root.is_dir() else {}
        if stamps == old.stamps and old is not EMPTY:
            return old
        changed = [s for s, stamp in stamps.items() if old.stamps.get(s) != stamp]
        results = {s: r for s, r in old.results.items() if s in stamps}
        results.update(self._read(changed, stamps))
        new = self._build(old, stamps, results)
        self._snapshot = new
        if old is not EMPTY:
            log.info("postings reloaded: %d file(s) changed, version %s", len(changed), new.version)
        return new

    # --- reading files ------------------------------------------------------------

    def _read(self, sources: list[str], stamps: Mapping[str, Stamp]) -> dict[str, ReadResult]:
        """Read results for ``sources``: from the cache when the file is unchanged, else parsed."""
        results: dict[str, ReadResult] = {}
        keep: list[CacheEntry] = []  # entries to (re)write: new parses, and known bytes under a new stamp
        by_source = self.store.cached_by_source(sources)
        raw_by_key: dict[str, tuple[str, bytes]] = {}
        for source in sources:
            stamp = _stamp_text(stamps[source])
            entry = by_source.get(source)
            if entry is not None and entry.stamp == stamp:
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
            keep.append(CacheEntry(key, source, _stamp_text(stamps[source]), text, html))
        for key, entry in by_key.items():
            source = raw_by_key[key][0]
            results[source] = result_from_json(source, entry.result, entry.html)
            keep.append(CacheEntry(key, source, _stamp_text(stamps[source]), entry.result, entry.html))
        self.store.cache_results(keep, replaced=by_source)
        for entry in keep:
            for problem in results[entry.source].problems:
                log.log(logging.WARNING if problem.level == ERROR else logging.INFO, "posting %s", problem)
        return results

    # --- building a snapshot ------------------------------------------------------

    def _build(self, old: Snapshot, stamps: dict[str, Stamp], results: dict[str, ReadResult]) -> Snapshot:
        winners, duplicates = resolve_duplicates(results, old)
        # postings read now carry no dates yet: same content as served keeps its dates,
        # anything else asks the store (which records it as first seen or changed now)
        undated = [p for p in winners.values() if not p.is_dated]
        ask: list[Posting] = []
        for posting in undated:
            previous = old.postings.get(posting.id)
            if previous is not None and previous.content_hash == posting.content_hash:
                posting.set_dates(previous.date_posted, previous.updated)  # type: ignore[arg-type]
            else:
                ask.append(posting)
        if ask:
            found = self.store.record_postings((Seen(p.id, p.content_hash, p.date_posted) for p in ask), self.clock())
            for posting in ask:
                dates = found[posting.id]
                posted = posting.date_posted if posting.date_posted_given else dates.first_seen
                posting.set_dates(posted, max(dates.changed_at, posted))  # type: ignore[arg-type]
        digests = {
            pid: (old.digests.get(pid) if old.postings.get(pid) is p else None) or _digest(p)
            for pid, p in winners.items()
        }
        problems = [p for s in sorted(s for s, r in results.items() if r.problems) for p in results[s].problems]
        problems += duplicates
        return Snapshot(
            version=_version(digests),
            generation=old.generation + 1,
            loaded_at=self.clock(),
            postings=MappingProxyType(winners),
            problems=tuple(problems),
            stamps=MappingProxyType(stamps),
            results=MappingProxyType(results),
            digests=MappingProxyType(digests),
        )


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


def resolve_duplicates(results: Mapping[str, ReadResult], old: Snapshot) -> tuple[dict[str, Posting], list[Problem]]:
    """One posting per id, by the contract's rule; the others are reported.

    The file already served under an id keeps it; among new files the one whose
    stem equals the id wins, then the first by path.
    """
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
    problems: list[Problem] = []
    for posting_id, candidates in sorted(clashes.items()):
        served = old.postings.get(posting_id)
        served_source = served.source if served else None
        ordered = sorted(
            candidates,
            key=lambda p, pid=posting_id, kept=served_source: (
                p.source != kept,
                PurePosixPath(p.source).stem != pid,
                p.source,
            ),
        )
        winners[posting_id] = ordered[0]
        for loser in ordered[1:]:
            problems.append(
                Problem(
                    loser.source,
                    posting_id,
                    ERROR,
                    "id",
                    f"duplicate id {posting_id!r}: already used by {ordered[0].source}; this file is left out",
                )
            )
    return winners, problems
