"""Snapshots: one consistent, immutable view of the postings, and how ids are settled.

Pure functions over read results; the loader does the I/O and swaps snapshots in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType

from syndicate.model import Posting
from syndicate.postings.reader import ERROR, Problem, ReadResult


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

    @cached_property
    def stale(self) -> tuple[str, ...]:
        """Files that no longer read but still serve their last good posting, by path."""
        return tuple(sorted(source for source, result in self.results.items() if is_stale(result)))


def is_stale(result: ReadResult) -> bool:
    """A broken file's result that still carries the posting it last read as (see the loader)."""
    return result.posting is not None and any(p.level == ERROR for p in result.problems)


EMPTY = Snapshot("0" * 16, 0, datetime.min.replace(tzinfo=UTC), MappingProxyType({}), (), {}, {}, {})


def same_content(old: Snapshot, new: Snapshot) -> bool:
    return new.version == old.version and new.problems == old.problems and new.postings == old.postings


def same_result(before: ReadResult | None, now: ReadResult) -> bool:
    if before is None or before.problems != now.problems:
        return False
    if before.posting is None or now.posting is None:
        return before.posting is now.posting
    return (before.posting.id, before.posting.content_hash) == (now.posting.id, now.posting.content_hash)


def parse_problem_count(snapshot: Snapshot) -> int:
    return len(snapshot.problems) - sum(len(v) for v in snapshot.duplicates.values())


def posting_digest(posting: Posting) -> int:
    posted, updated = posting.date_posted.timestamp(), posting.updated.timestamp()  # type: ignore[union-attr]
    text = f"{posting.id}\0{posting.content_hash}\0{posted}\0{updated}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def version_of(digests: Mapping[str, int]) -> str:
    """Same served postings, same version, in every process: an order-free combination
    (ids are unique, so XOR of per-posting digests cannot cancel out)."""
    combined = len(digests)
    for value in digests.values():
        combined ^= value
    return f"{combined:016x}"


# Who served an id before: (file, content hash), from this process's snapshot or, when
# it has none (a new process), from the store, so every process settles a clash alike.
Served = Callable[[str], tuple[str, str] | None]


def nobody_served(posting_id: str) -> tuple[str, str] | None:
    return None


def _served_by(posting_id: str, old: Snapshot, served: Served) -> tuple[str, str] | None:
    # the store first: it is what every process agrees on; this process's own view only
    # when the store has no answer (rows from before it kept one, or lint without a store)
    recorded = served(posting_id)
    if recorded is not None:
        return recorded
    posting = old.postings.get(posting_id)
    return (posting.source, posting.content_hash) if posting else None


def _pick(
    posting_id: str, candidates: list[Posting], kept: tuple[str, str] | None
) -> tuple[Posting, tuple[Problem, ...]]:
    """The contract's rule: the posting already served keeps the id (its file, or the same
    content under another name); among new files the one whose stem equals the id wins,
    then the first by path. The others are reported."""
    kept_source, kept_hash = kept or (None, None)
    ordered = sorted(
        candidates,
        key=lambda p: (
            p.source != kept_source,  # the file that serves it,
            p.content_hash != kept_hash,  # else the same content under another name
            PurePosixPath(p.source).stem != posting_id,
            p.source,
        ),
    )
    winner = ordered[0]
    message = f"duplicate id {posting_id!r}: already used by {winner.source}; this file is left out"
    return winner, tuple(Problem(p.source, posting_id, ERROR, "id", message) for p in ordered[1:])


def resolve_duplicates(
    results: Mapping[str, ReadResult], old: Snapshot, served: Served = nobody_served
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
        kept = _served_by(posting_id, old, served)
        winners[posting_id], duplicates[posting_id] = _pick(posting_id, candidates, kept)
    return winners, duplicates


def resolve_changes(
    results: Mapping[str, ReadResult], old: Snapshot, touched: set[str], served: Served = nobody_served
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
        current = old.postings.get(pid)
        # every untouched file with this id was the served one or one left out for it
        sources = {p.file for p in old.duplicates.get(pid, ())}
        if current is not None:
            sources.add(current.source)
        sources -= touched
        sources |= {s for s in touched if (r := results.get(s)) is not None and r.posting and r.posting.id == pid}
        candidates = [results[s].posting for s in sorted(sources)]
        if not candidates:
            winners.pop(pid, None)
        elif len(candidates) == 1:
            winners[pid] = candidates[0]  # type: ignore[assignment]
        else:
            kept = _served_by(pid, old, served)
            winners[pid], duplicates[pid] = _pick(pid, candidates, kept)  # type: ignore[arg-type]
    return winners, duplicates, affected
