"""The change plan, rule by rule: which webhook events each board is owed, and how pending ones coalesce.

``syndicate.push.changes.plan`` is pure: each row gives the remembered state, the postings on
disk at a fixed ``NOW`` and the boards, and states the plan the rule calls for. Coalescing
lives in the outbox's scan transaction, so its rows run through a real Store (SQLite in
tmp_path, and PostgreSQL when TEST_DATABASE_URL is set).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
import sqlalchemy as sa

from syndicate.model import Company, Posting, Status
from syndicate.postings.reader import ERROR, Problem
from syndicate.postings.snapshot import EMPTY, Snapshot
from syndicate.push.boards import EVENTS, Board, Secret
from syndicate.push.changes import CLOSED, CREATED, UPDATED, BoardState, Event, Plan, PostingState, plan
from syndicate.store.engine import Store
from syndicate.store.outbox import NewDelivery, Outbox

# delivery states as the database stores them
PENDING, DELIVERING, SUCCEEDED, FAILED, SUPERSEDED = "pending", "delivering", "succeeded", "failed", "superseded"

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
SECRET = Secret("whsec_" + "A" * 32)


def job(
    pid: str,
    content: str = "h1",
    *,
    status: Status = Status.OPEN,
    valid_through: datetime | None = None,
    tags: tuple[str, ...] = (),
    source: str | None = None,
) -> Posting:
    return Posting(
        pid,
        source or f"{pid}.md",
        f"Job {pid}",
        Company("Acme"),
        "<p>x</p>",
        content,
        status=status,
        valid_through=valid_through,
        tags=tags,
    )


def board(name: str = "b", *, events: Sequence[str] = EVENTS, tags: Sequence[str] = ()) -> Board:
    return Board(name, f"https://{name}.example/hooks", SECRET, frozenset(events), frozenset(tags))


def snapshot(files: Sequence[Posting], broken: Sequence[str] = ()) -> Snapshot:
    problems = tuple(Problem(source, None, ERROR, "yaml", "does not parse") for source in broken)
    return replace(EMPTY, postings=MappingProxyType({p.id: p for p in files}), problems=problems)


def listed(version: int, content: str | None = "h1", source: str | None = "a.md") -> PostingState:
    return PostingState(version, content, True, source)


def unlisted(version: int, content: str | None = "h1", source: str | None = "a.md") -> PostingState:
    return PostingState(version, content, False, source)


@dataclass(frozen=True)
class Case:
    files: tuple[Posting, ...] = ()
    known: dict[str, PostingState] = field(default_factory=dict)
    sent: dict[tuple[str, str], BoardState] = field(default_factory=dict)
    boards: tuple[Board, ...] = (board(),)
    broken: tuple[str, ...] = ()
    # what the rule says the plan holds
    postings: dict[str, PostingState] = field(default_factory=dict)
    board_rows: dict[tuple[str, str], BoardState] = field(default_factory=dict)
    events: list[tuple[str, str, str, int, str | None, bool]] = field(default_factory=list)  # content None: no file


PLAN_RULES = [
    pytest.param(
        Case(
            files=(job("a"),),
            postings={"a": listed(1)},
            board_rows={("b", "a"): BoardState(1, True)},
            events=[("b", "a", CREATED, 1, "h1", True)],
        ),
        id="a posting seen for the first time is version 1, listed, and created for the board",
    ),
    pytest.param(
        Case(files=(job("a"),), known={"a": listed(4)}, sent={("b", "a"): BoardState(4, True)}),
        id="nothing changed: no state is rewritten and nothing is owed",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2"),),
            known={"a": listed(7)},
            sent={("b", "a"): BoardState(7, True)},
            postings={"a": listed(8, "h2")},
            board_rows={("b", "a"): BoardState(8, True)},
            events=[("b", "a", UPDATED, 8, "h2", True)],
        ),
        id="an edit while listed moves the version by exactly one and is an update",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2", status=Status.CLOSED),),
            known={"a": listed(3)},
            sent={("b", "a"): BoardState(3, True)},
            postings={"a": unlisted(4, "h2")},
            board_rows={("b", "a"): BoardState(4, False)},
            events=[("b", "a", CLOSED, 4, "h2", True)],
        ),
        id="status closed unlists it: a close at the next version, carrying the posting",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2", status=Status.DRAFT),),
            known={"a": listed(3)},
            sent={("b", "a"): BoardState(3, True)},
            postings={"a": unlisted(4, "h2")},
            board_rows={("b", "a"): BoardState(4, False)},
            events=[("b", "a", CLOSED, 4, "h2", True)],
        ),
        id="status draft unlists it like a close",
    ),
    pytest.param(
        Case(
            files=(job("a", valid_through=NOW - timedelta(seconds=1)),),
            known={"a": listed(2)},
            sent={("b", "a"): BoardState(2, True)},
            postings={"a": unlisted(3)},
            board_rows={("b", "a"): BoardState(3, False)},
            events=[("b", "a", CLOSED, 3, "h1", True)],
        ),
        id="valid_through passed at now: same content, yet a new version and a close",
    ),
    pytest.param(
        Case(
            files=(job("a", valid_through=NOW),),
            known={"a": listed(2)},
            sent={("b", "a"): BoardState(2, True)},
        ),
        id="valid_through exactly now is still listed: nothing owed",
    ),
    pytest.param(
        Case(
            files=(job("a", valid_through=NOW - timedelta(days=1)),),
            postings={"a": unlisted(1)},
        ),
        id="a new posting already expired is recorded unlisted and owed to nobody",
    ),
    pytest.param(
        Case(files=(job("a", status=Status.CLOSED),), postings={"a": unlisted(1)}),
        id="a new posting that is closed is recorded unlisted and owed to nobody",
    ),
    pytest.param(
        Case(
            known={"a": listed(5)},
            sent={("b", "a"): BoardState(5, True)},
            postings={"a": unlisted(6, None)},
            board_rows={("b", "a"): BoardState(6, False)},
            events=[("b", "a", CLOSED, 6, None, True)],
        ),
        id="a deleted file is a close without a posting; its state keeps the source it had",
    ),
    pytest.param(
        Case(
            known={"a": unlisted(5)},
            sent={("b", "a"): BoardState(5, False)},
            postings={"a": unlisted(6, None)},
        ),
        id="deleting a file the board no longer lists moves the version and owes nothing",
    ),
    pytest.param(
        Case(known={"a": unlisted(6, None)}, sent={("b", "a"): BoardState(6, False)}),
        id="a file that stays gone is not bumped again",
    ),
    pytest.param(
        Case(
            known={"a": listed(5)},
            sent={("b", "a"): BoardState(5, True)},
            broken=("a.md",),
        ),
        id="a file that no longer parses keeps its last state: no close",
    ),
    pytest.param(
        Case(
            known={"a": listed(5)},
            sent={("b", "a"): BoardState(5, True)},
            broken=("other.md",),
            postings={"a": unlisted(6, None)},
            board_rows={("b", "a"): BoardState(6, False)},
            events=[("b", "a", CLOSED, 6, None, True)],
        ),
        id="only the id's own broken file holds its state: another broken file does not hide a deletion",
    ),
    pytest.param(
        Case(
            files=(job("a", source="team/a.md"),),
            known={"a": listed(5)},
            sent={("b", "a"): BoardState(5, True)},
            postings={"a": listed(5, source="team/a.md")},
        ),
        id="a moved file keeps its version, records its new source and owes nothing",
    ),
    pytest.param(
        Case(
            files=(job("a", "h3"),),
            known={"a": unlisted(2, "h2")},
            sent={("b", "a"): BoardState(2, False)},
            postings={"a": listed(3, "h3")},
            board_rows={("b", "a"): BoardState(3, True)},
            events=[("b", "a", CREATED, 3, "h3", True)],
        ),
        id="a re-opened posting is created again at its new version",
    ),
    pytest.param(
        Case(
            files=(job("a", "h1"),),
            known={"a": unlisted(6, None)},
            sent={("b", "a"): BoardState(6, False)},
            postings={"a": listed(7)},
            board_rows={("b", "a"): BoardState(7, True)},
            events=[("b", "a", CREATED, 7, "h1", True)],
        ),
        id="a deleted file put back is created again at the next version",
    ),
    pytest.param(
        Case(
            files=(job("a", "h4", status=Status.CLOSED),),
            known={"a": unlisted(2, "h2")},
            sent={("b", "a"): BoardState(2, False)},
            postings={"a": unlisted(3, "h4")},
        ),
        id="editing a closed posting moves its version and owes nothing",
    ),
    pytest.param(
        Case(
            files=(job("a"), job("c", "hc", status=Status.CLOSED, source="c.md")),
            known={"a": listed(3), "c": unlisted(2, "hc", "c.md")},
            sent={("old", "a"): BoardState(3, True)},
            boards=(board("old"), board("new")),
            board_rows={("new", "a"): BoardState(3, True)},
            events=[("new", "a", CREATED, 3, "h1", True)],
        ),
        id="a new board is backfilled with every listed posting at its current version; the old board gets nothing",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2"),),
            known={"a": listed(1)},
            sent={("gone", "a"): BoardState(1, True)},
            boards=(),
            postings={"a": listed(2, "h2")},
        ),
        id="a removed board is owed nothing and its rows are left as they were; postings still move on",
    ),
    pytest.param(
        Case(
            files=(job("a", "h3"),),
            known={"a": listed(3, "h3")},
            sent={("b", "a"): BoardState(1, True)},
            board_rows={("b", "a"): BoardState(3, True)},
            events=[("b", "a", UPDATED, 3, "h3", True)],
        ),
        id="a board that comes back gets one update at the current version, not a second backfill",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2", status=Status.CLOSED),),
            known={"a": unlisted(2, "h2")},
            sent={("b", "a"): BoardState(1, True)},
            board_rows={("b", "a"): BoardState(2, False)},
            events=[("b", "a", CLOSED, 2, "h2", True)],
        ),
        id="a board that comes back after a close it missed gets the close",
    ),
    pytest.param(
        Case(
            files=(job("a", tags=("rust", "web")), job("g", tags=("go",))),
            boards=(board(tags=["rust"]),),
            postings={"a": listed(1), "g": listed(1, source="g.md")},
            board_rows={("b", "a"): BoardState(1, True)},
            events=[("b", "a", CREATED, 1, "h1", True)],
        ),
        id="a board with tags gets only the postings carrying one of them",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2", tags=("go",)),),
            known={"a": listed(1)},
            sent={("b", "a"): BoardState(1, True)},
            boards=(board(tags=["rust"]),),
            postings={"a": listed(2, "h2")},
            board_rows={("b", "a"): BoardState(2, False)},
            events=[("b", "a", CLOSED, 2, "h2", True)],
        ),
        id="a posting that stops matching a board's tags is closed for it though still listed",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2", tags=("rust",)),),
            known={"a": listed(1)},
            sent={("b", "a"): BoardState(1, False)},
            boards=(board(tags=["rust"]),),
            postings={"a": listed(2, "h2")},
            board_rows={("b", "a"): BoardState(2, True)},
            events=[("b", "a", CREATED, 2, "h2", True)],
        ),
        id="a posting that starts matching a board's tags is created for it",
    ),
    pytest.param(
        Case(
            files=(job("a", tags=("straße",)),),
            boards=(board(tags=["strasse"]),),
            postings={"a": listed(1)},
            board_rows={("b", "a"): BoardState(1, True)},
            events=[("b", "a", CREATED, 1, "h1", True)],
        ),
        id="a board's tags match however they are written, as the feed filter's tags do",
    ),
    pytest.param(
        Case(
            files=(job("a", "h2"),),
            known={"a": listed(1)},
            sent={("b", "a"): BoardState(1, True)},
            boards=(board(events=["posting.created"]),),
            postings={"a": listed(2, "h2")},
            board_rows={("b", "a"): BoardState(2, True)},
            events=[("b", "a", UPDATED, 2, "h2", False)],
        ),
        id="a kind the board does not take is still planned and recorded, marked unwanted",
    ),
    pytest.param(
        Case(
            files=(job("c", source="c.md"), job("a"), job("b", source="b.md")),
            boards=(board("z"), board("y")),
            postings={"a": listed(1), "b": listed(1, source="b.md"), "c": listed(1, source="c.md")},
            board_rows={(name, pid): BoardState(1, True) for name in "zy" for pid in "abc"},
            events=[(name, pid, CREATED, 1, "h1", True) for name in "zy" for pid in "abc"],
        ),
        id="events come board by board in the order given, postings in id order",
    ),
]


def _events(result: Plan) -> list[tuple[str, str, str, int, str | None, bool]]:
    return [
        (e.board, e.posting_id, e.type, e.version, e.posting.content_hash if e.posting else None, e.wanted)
        for e in result.events
    ]


@pytest.mark.parametrize("case", PLAN_RULES)
def test_plan(case: Case) -> None:
    result = plan(snapshot(case.files, case.broken), NOW, case.boards, case.known, case.sent)
    assert result.postings == case.postings
    assert result.boards == case.board_rows
    assert _events(result) == case.events


# --- coalescing: what a scan does to the pending deliveries of the same board and posting ---------------


@dataclass(frozen=True)
class Earlier:
    """A delivery already in the outbox."""

    type: str
    version: int
    state: str = PENDING
    attempts: int = 0
    board: str = "b"
    posting_id: str = "a"


def new(kind: str, version: int, *, wanted: bool = True) -> Event:
    return Event("b", "a", kind, version, None, wanted)


COALESCE_RULES = [
    pytest.param(
        [Earlier(UPDATED, 2)],
        new(UPDATED, 3),
        [(UPDATED, 3)],
        [SUPERSEDED],
        id="a newer event supersedes the pending delivery of the same board and posting",
    ),
    pytest.param(
        [Earlier(UPDATED, 2, DELIVERING, 1)],
        new(UPDATED, 3),
        [(UPDATED, 3)],
        [DELIVERING],
        id="a delivery in flight is never superseded: the new one queues behind it",
    ),
    pytest.param(
        [Earlier(CREATED, 1, SUCCEEDED, 1), Earlier(UPDATED, 2, FAILED, 10)],
        new(UPDATED, 3),
        [(UPDATED, 3)],
        [SUCCEEDED, FAILED],
        id="succeeded and failed deliveries are left alone",
    ),
    pytest.param(
        [Earlier(UPDATED, 2, board="other"), Earlier(UPDATED, 2, posting_id="z")],
        new(UPDATED, 3),
        [(UPDATED, 3)],
        [PENDING, PENDING],
        id="another board's or another posting's pending delivery is not touched",
    ),
    pytest.param(
        [Earlier(CREATED, 1)],
        new(UPDATED, 2),
        [(CREATED, 2)],
        [SUPERSEDED],
        id="an update replacing a creation the board never got is a creation",
    ),
    pytest.param(
        [Earlier(CREATED, 1, PENDING, 2)],
        new(UPDATED, 2),
        [(CREATED, 2)],
        [SUPERSEDED],
        id="an update replacing a creation that was tried and failed is still a creation",
    ),
    pytest.param(
        [Earlier(CREATED, 1, DELIVERING, 1)],
        new(UPDATED, 2),
        [(UPDATED, 2)],
        [DELIVERING],
        id="an update behind a creation in flight stays an update",
    ),
    pytest.param(
        [Earlier(CREATED, 1)],
        new(CLOSED, 2),
        [],
        [SUPERSEDED],
        id="a close replacing a creation never attempted cancels both",
    ),
    pytest.param(
        [Earlier(CREATED, 1, PENDING, 1)],
        new(CLOSED, 2),
        [(CLOSED, 2)],
        [SUPERSEDED],
        id="a close replacing a creation already attempted is sent: the board may have it",
    ),
    pytest.param(
        [Earlier(CREATED, 1, DELIVERING, 1)],
        new(CLOSED, 2),
        [(CLOSED, 2)],
        [DELIVERING],
        id="a close behind a creation in flight is sent after it",
    ),
    pytest.param(
        [Earlier(UPDATED, 2)],
        new(CLOSED, 3),
        [(CLOSED, 3)],
        [SUPERSEDED],
        id="a close replacing a pending update is sent",
    ),
    pytest.param(
        [],
        new(UPDATED, 2, wanted=False),
        [],
        [],
        id="an event of a kind the board does not take is not sent",
    ),
    pytest.param(
        [Earlier(UPDATED, 2)],
        new(UPDATED, 3, wanted=False),
        [],
        [SUPERSEDED],
        id="an unwanted event still replaces a pending one",
    ),
    pytest.param(
        [Earlier(CREATED, 1)],
        new(UPDATED, 2, wanted=False),
        [(CREATED, 2)],
        [SUPERSEDED],
        id="an unwanted update replacing an unsent creation becomes a creation of the current content",
    ),
    pytest.param(
        [Earlier(CREATED, 1, PENDING, 1)],
        new(CLOSED, 2, wanted=False),
        [],
        [SUPERSEDED],
        id="an unwanted close replacing an unsent creation sends nothing",
    ),
]


# the delivery table as the migrations define it (named here, not imported: only its columns matter)
DELIVERY = sa.table(
    "delivery",
    *(
        sa.column(name)
        for name in (
            "seq",
            "webhook_id",
            "board",
            "posting_id",
            "event_type",
            "version",
            "body",
            "state",
            "attempts",
            "next_attempt_at",
            "lease_owner",
            "lease_until",
            "created_at",
            "updated_at",
        )
    ),
)


def _seed(store: Store, earlier: Sequence[Earlier]) -> None:
    if not earlier:
        return
    rows = [
        {
            "webhook_id": f"msg_seed{n}",
            "board": e.board,
            "posting_id": e.posting_id,
            "event_type": e.type,
            "version": e.version,
            "body": b"{}",
            "state": e.state,
            "attempts": e.attempts,
            "next_attempt_at": NOW,
            "lease_owner": "someone" if e.state == DELIVERING else None,
            "lease_until": NOW + timedelta(minutes=1) if e.state == DELIVERING else None,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for n, e in enumerate(earlier)
    ]
    with store.engine.begin() as conn:
        conn.execute(DELIVERY.insert(), rows)


def _build(events: list[Event]) -> list[NewDelivery]:
    return [NewDelivery(f"msg_{uuid.uuid4().hex}", e.board, e.posting_id, e.type, e.version, b"{}") for e in events]


@pytest.mark.parametrize("earlier,event,inserted,states_after", COALESCE_RULES)
def test_coalescing(
    store: Store, earlier: list[Earlier], event: Event, inserted: list[tuple[str, int]], states_after: list[str]
) -> None:
    _seed(store, earlier)
    outbox = Outbox(store)
    enqueued = outbox.scan(
        lambda _postings, _sent: Plan({}, {}, [event]), _build, NOW, {"b": "webhook", "other": "webhook"}
    )
    assert [(d.event_type, d.version) for d in enqueued or []] == inserted
    columns = [DELIVERY.c[name] for name in ("webhook_id", "board", "posting_id", "event_type", "version", "state")]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(DELIVERY.c.seq)).all()
    seeded = [r.state for r in rows if r.webhook_id.startswith("msg_seed")]
    assert seeded == states_after
    fresh = [tuple(r)[1:] for r in rows if not r.webhook_id.startswith("msg_seed")]
    assert fresh == [("b", "a", kind, version, PENDING) for kind, version in inserted]
