"""Which webhook events each board is owed: a pure diff of what is listed now against what was sent.

Two kinds of remembered state, both kept in the database by the outbox:
- per posting, the last observed (content hash, listed) and a ``version`` that
  grows by one whenever either changes (an edit, a close, an expiry, a delete);
- per (board, posting), the version and listed flag last put in that board's
  outbox.

A board is owed ``posting.created`` when a posting it matches is listed and it
has not got it, ``posting.updated`` when the version moved while listed, and
``posting.closed`` when it had it and the posting is no longer listed for it
(closed, expired, drafted, deleted, or no longer matching its tags).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from syndicate.model import Posting
from syndicate.postings.snapshot import Snapshot
from syndicate.push.boards import Board

CREATED, UPDATED, CLOSED = "posting.created", "posting.updated", "posting.closed"


@dataclass(frozen=True, slots=True)
class PostingState:
    version: int
    content_hash: str | None  # None: the file is gone
    listed: bool
    source: str | None = None  # the file that served it


@dataclass(frozen=True, slots=True)
class BoardState:
    version: int
    listed: bool


@dataclass(frozen=True, slots=True)
class Event:
    board: str
    posting_id: str
    type: str
    version: int
    posting: Posting | None  # None when the file was deleted
    wanted: bool = True  # False: the board does not take this kind; it still replaces a pending one


@dataclass(frozen=True)
class Plan:
    """What one scan writes, in one transaction."""

    postings: dict[str, PostingState]  # changed rows only
    boards: dict[tuple[str, str], BoardState]  # changed rows only
    events: list[Event]


def observe(
    snapshot: Snapshot, now: datetime, known: Mapping[str, PostingState]
) -> dict[str, tuple[str | None, bool, Posting | None]]:
    """(content hash, listed, posting) of every posting in the snapshot and of every ``known`` id
    whose file is gone. An id whose file is still there but fails to parse (a typo, a save caught
    half-written) is left out: push keeps its last state until the file reads again."""
    seen: dict[str, tuple[str | None, bool, Posting | None]] = {
        pid: (p.content_hash, p.is_open_at(now), p) for pid, p in snapshot.postings.items()
    }
    broken = {p.file for p in snapshot.errors}
    for pid, state in known.items():
        if pid not in seen and (state.source is None or state.source not in broken):
            seen[pid] = (None, False, None)
    return seen


def plan(
    snapshot: Snapshot,
    now: datetime,
    boards: Iterable[Board],
    postings: Mapping[str, PostingState],
    sent: Mapping[tuple[str, str], BoardState],
) -> Plan:
    """The state to record and the events to enqueue, given what was recorded before."""
    observed = observe(snapshot, now, postings)
    new_postings: dict[str, PostingState] = {}
    current: dict[str, PostingState] = {}
    for pid, (content_hash, listed, posting) in observed.items():
        before = postings.get(pid)
        source = posting.source if posting is not None else (before.source if before else None)
        if before is None:
            state = PostingState(1, content_hash, listed, source)
        elif (before.content_hash, before.listed) != (content_hash, listed):
            state = PostingState(before.version + 1, content_hash, listed, source)
        elif before.source != source:
            state = PostingState(before.version, content_hash, listed, source)  # a moved file: no event
        else:
            state = before
        current[pid] = state
        if state is not before:
            new_postings[pid] = state

    new_sent: dict[tuple[str, str], BoardState] = {}
    events: list[Event] = []
    for board in boards:
        ids = set(observed) | {pid for (name, pid) in sent if name == board.name}
        for pid in sorted(ids):
            if pid not in current:  # a broken file: nothing changes until it reads again
                continue
            state = current[pid]
            posting = observed[pid][2]
            want = state.listed and posting is not None and board.matches(posting.tags)
            had = sent.get((board.name, pid))
            was_listed = had is not None and had.listed
            if want and not was_listed:
                kind = CREATED
            elif want and had is not None and had.version != state.version:
                kind = UPDATED
            elif not want and was_listed:
                kind = CLOSED
            else:
                continue
            new_sent[(board.name, pid)] = BoardState(state.version, want)
            events.append(Event(board.name, pid, kind, state.version, posting, board.wants(kind)))
    return Plan(new_postings, new_sent, events)
