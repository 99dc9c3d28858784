"""Webhook push through a real local sink that verifies every request with ``standardwebhooks``.

The worker's cycle is called directly with a clock the test moves; the sink is
a real threaded HTTP server on a loopback port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock, posting_text, write

from bench.sink import DEMO_SECRET, Sink
from syndicate.push.delivery import JITTER
from syndicate.push.worker import Worker
from syndicate.services import build_services
from syndicate.settings import load_settings
from syndicate.store.records import FAILED, PENDING, SUCCEEDED, SUPERSEDED

OTHER_SECRET = "whsec_b3RoZXItYm9hcmQtc2VjcmV0LW9mLWF0LWxlYXN0LTI0"


def board_toml(name: str, url: str, secret: str = DEMO_SECRET, **extra: Any) -> str:
    lines = ["[[boards]]", f'name = "{name}"', f'url = "{url}"', f'secret = "{secret}"']
    for key, value in extra.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


HARNESS_START = datetime(2031, 6, 15, 12, 0, tzinfo=UTC)  # any instant: the workers run on the test's clock


class Harness:
    """Postings folder, boards file, database, a sink, and workers with a controlled clock."""

    def __init__(self, tmp_path: Path, database_url: str, postings: Path, sink: Sink) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.postings = postings
        self.boards_path = tmp_path / "boards.toml"
        self.clock = Clock(HARNESS_START)
        self.sink = sink
        self.workers: list[Worker] = []
        self.schedule = "0,5,60"

    def boards(self, *tables: str) -> None:
        self.boards_path.write_text("".join(tables), encoding="utf-8")

    def worker(self, **overrides: Any) -> Worker:
        settings = load_settings(
            environ={},
            overrides={
                "postings_dir": self.postings,
                "instance_dir": self.tmp_path / "instance",
                "database_url": self.database_url,
                "boards_path": self.boards_path,
                "retry_schedule": self.schedule,
                "connect_timeout": 2.0,
                "delivery_timeout": 2.0,
                "lease_seconds": 30.0,
                "base_url": "https://jobs.example",
                **overrides,
            },
        )
        svc = build_services(settings)
        svc.store.migrate()  # what the worker process does first
        assert svc.database.check()
        svc.loader.refresh()
        self.metrics = svc.metrics
        worker = Worker(settings, svc.store, svc.loader, clock=self.clock)
        self.workers.append(worker)
        return worker

    def events(self) -> list[dict[str, Any]]:
        with self.sink.lock:
            return list(self.sink.events)

    def received(self) -> list[tuple[str, str, int]]:
        """(type, posting id, version) of every verified request, in arrival order."""
        return [
            (e["payload"]["type"], e["payload"]["data"]["id"], e["payload"]["data"]["version"]) for e in self.events()
        ]

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
            worker.outbox.store.close()


@pytest.fixture
def h(tmp_path: Path, database_url: str, postings_dir: Path, sink: Sink) -> Iterator[Harness]:
    """The sink fixture fails the test if any request did not verify."""
    harness = Harness(tmp_path, database_url, postings_dir, sink)
    yield harness
    harness.close()


# --- events owed ------------------------------------------------------------------------------


def test_a_new_board_gets_every_open_posting_it_matches(h: Harness) -> None:
    write(h.postings, "a.md", posting_text("a", title="Backend Engineer", tags="[rust]"))
    write(h.postings, "b.md", posting_text("b", title="Designer"))
    write(h.postings, "c.md", posting_text("c", status="closed"))
    write(h.postings, "d.md", posting_text("d", status="draft"))
    h.boards(board_toml("all", h.sink.url))
    report = h.worker().cycle()
    assert sorted(h.received()) == [("posting.created", "a", 1), ("posting.created", "b", 1)]
    assert report.events == 2 and report.outcomes == {SUCCEEDED: 2}
    event = next(e for e in h.events() if e["payload"]["data"]["id"] == "a")
    data = event["payload"]["data"]
    assert data["url"] == "https://jobs.example/jobs/a"
    assert data["posting"]["@type"] == "JobPosting" and data["posting"]["title"] == "Backend Engineer"
    assert event["id"].startswith("msg_")
    # a second board added later is backfilled; the first gets nothing again
    h.boards(board_toml("all", h.sink.url), board_toml("late", h.sink.url, secret=DEMO_SECRET))
    h.workers[0].cycle()
    assert len(h.received()) == 4


def test_create_update_close_expire_delete(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    soon = (h.clock.now + timedelta(hours=1)).isoformat()
    a = write(h.postings, "a.md", posting_text("a", title="First"))
    write(h.postings, "b.md", posting_text("b", valid_through=soon))
    c = write(h.postings, "c.md", posting_text("c"))
    d = write(h.postings, "d.md", posting_text("d"))
    worker.cycle()
    a.write_text(posting_text("a", title="Second"), encoding="utf-8")
    c.write_text(posting_text("c", status="closed"), encoding="utf-8")
    d.unlink()
    worker.cycle()
    assert worker.cycle().events == 0, "nothing is owed twice"
    h.clock.advance(hours=2)  # b expires: no file changes
    worker.cycle()
    received = h.received()
    assert sorted(received[:4]) == [("posting.created", pid, 1) for pid in "abcd"]
    assert sorted(received[4:7]) == [
        ("posting.closed", "c", 2),
        ("posting.closed", "d", 2),
        ("posting.updated", "a", 2),
    ]
    assert received[7:] == [("posting.closed", "b", 2)]
    deleted = next(
        e for e in h.events() if e["payload"]["data"]["id"] == "d" and e["payload"]["type"] == "posting.closed"
    )
    assert deleted["payload"]["data"]["posting"] is None, "a deleted file has no JobPosting left"
    updated = next(e for e in h.events() if e["payload"]["type"] == "posting.updated")
    assert updated["payload"]["data"]["posting"]["title"] == "Second"


def test_board_filters_on_tags_and_events(h: Harness) -> None:
    h.boards(
        board_toml("rust-only", h.sink.url, tags=["rust"]),
        board_toml("creations", h.sink.url, events=["posting.created"]),
    )
    worker = h.worker()
    a = write(h.postings, "a.md", posting_text("a", tags="[rust]"))
    write(h.postings, "b.md", posting_text("b", tags="[go]"))
    worker.cycle()
    by_board = worker.outbox.log.deliveries()
    assert sorted((d.board, d.posting_id) for d in by_board) == [
        ("creations", "a"),
        ("creations", "b"),
        ("rust-only", "a"),
    ]
    a.write_text(posting_text("a", title="Retitled", tags="[go]"), encoding="utf-8")  # no longer matches rust-only
    worker.cycle()
    latest = {(d.board, d.posting_id): d.event_type for d in reversed(worker.outbox.log.deliveries(state=SUCCEEDED))}
    assert latest[("rust-only", "a")] == "posting.closed"
    assert ("creations", "a") in latest and len(worker.outbox.log.deliveries(board="creations")) == 2, "no update sent"


def test_edits_before_delivery_coalesce_and_the_last_state_arrives(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a", title="One"))
    worker.scan()
    path.write_text(posting_text("a", title="Two"), encoding="utf-8")
    worker.scan()
    path.write_text(posting_text("a", title="Three"), encoding="utf-8")
    worker.scan()
    states = sorted(d.state for d in worker.outbox.log.deliveries())
    assert states == [PENDING, SUPERSEDED, SUPERSEDED]
    worker.deliver()
    [event] = h.events()
    assert event["payload"]["type"] == "posting.created", "the board never had it: the survivor creates it"
    assert event["payload"]["data"]["version"] == 3
    assert event["payload"]["data"]["posting"]["title"] == "Three"


def test_one_delivery_in_flight_per_board_and_posting_in_order(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a", title="One"))
    write(h.postings, "b.md", posting_text("b"))
    worker.scan()
    first = worker.outbox.claim(h.clock(), "someone", 10, timedelta(seconds=30), ["board"])
    assert sorted(d.posting_id for d in first) == ["a", "b"]
    path.write_text(posting_text("a", title="Two"), encoding="utf-8")
    worker.scan()
    assert worker.outbox.claim(h.clock(), "other", 10, timedelta(seconds=30), ["board"]) == [], "a waits for v1"
    for item in first:
        worker.attempt(item, worker.boards()["board"])
    [second] = worker.outbox.claim(h.clock(), "other", 10, timedelta(seconds=30), ["board"])
    assert (second.posting_id, second.version, second.event_type) == ("a", 2, "posting.updated")


# --- failures and retries -----------------------------------------------------------------------


def test_a_500_is_retried_with_the_same_webhook_id_and_a_fresh_signature(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.sink.answers.append((500, {}))
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (PENDING, 1, 500)
    wait = (delivery.next_attempt_at - h.clock.now).total_seconds()
    assert 4 <= wait <= 6, "the second attempt waits 5 s, ±20%"
    assert worker.cycle().attempts == 0, "not due yet"
    h.clock.advance(seconds=6)
    worker.cycle()
    first, second = h.events()
    assert first["id"] == second["id"] and first["body"] == second["body"]
    assert worker.outbox.log.deliveries()[0].state == SUCCEEDED
    assert [a.status_code for a in worker.outbox.log.attempts(first["id"])] == [500, 204]


def test_the_last_failed_attempt_leaves_a_failed_delivery_that_can_be_replayed(h: Harness) -> None:
    h.schedule = "0,1"
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.sink.answers.extend([(500, {}), (400, {})])
    worker.cycle()
    h.clock.advance(seconds=2)
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    assert (delivery.state, delivery.attempts) == (FAILED, 2)
    attempts = worker.outbox.log.attempts(delivery.webhook_id)
    assert [(a.status_code, a.error_class) for a in attempts] == [(500, "http"), (400, "http")]
    assert all(a.duration_ms > 0 for a in attempts)
    assert worker.outbox.log.redeliver(h.clock(), board="board") == [delivery.webhook_id]
    worker.cycle()
    assert [e["id"] for e in h.events()] == [delivery.webhook_id] * 3
    assert worker.outbox.log.deliveries()[0].state == SUCCEEDED


def test_a_timeout_is_an_error_of_its_own_and_retried(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker(delivery_timeout=0.3)
    write(h.postings, "a.md", posting_text("a"))
    h.sink.delay = 1.0
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    assert (delivery.state, delivery.last_error) == (PENDING, "timeout")
    h.sink.delay = 0
    h.clock.advance(seconds=6)
    worker.cycle()
    ids = {e["id"] for e in h.events()}
    assert ids == {delivery.webhook_id}


def test_retry_after_is_honoured(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.sink.answers.append((429, {"Retry-After": "120"}))
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    assert delivery.next_attempt_at == h.clock.now + timedelta(seconds=120)
    h.clock.advance(seconds=100)
    assert worker.cycle().attempts == 0
    h.clock.advance(seconds=21)
    assert worker.cycle().outcomes == {SUCCEEDED: 1}


def test_410_disables_the_board_until_an_operator_enables_it(h: Harness) -> None:
    other = Sink(secret=OTHER_SECRET).start()
    try:
        h.boards(board_toml("gone", h.sink.url), board_toml("fine", other.url, secret=OTHER_SECRET))
        worker = h.worker()
        write(h.postings, "a.md", posting_text("a"))
        write(h.postings, "b.md", posting_text("b"))
        h.sink.answers.append((410, {}))  # the first request to "gone" is answered 410
        worker.cycle()
        assert worker.outbox.log.disabled_boards() == {"gone"}
        assert len(other.events) == 2, "the other board is not held up"
        gone_first = h.events()[0]["id"]
        waiting = [d for d in worker.outbox.log.deliveries(board="gone") if d.state == PENDING]
        assert [d.webhook_id for d in waiting] == [gone_first], "the 410'd delivery waits, unspent"
        assert waiting[0].attempts == 0
        sent = len(h.events())
        h.clock.advance(hours=1)
        worker.cycle()
        assert len(h.events()) == sent, "nothing more goes to a disabled board"
        assert worker.outbox.log.enable_board("gone")
        worker.cycle()
        assert h.events()[-1]["id"] == gone_first
        assert all(d.state == SUCCEEDED for d in worker.outbox.log.deliveries(board="gone"))
    finally:
        other.shutdown()
        other.server_close()


def test_redirects_are_not_followed(h: Harness) -> None:
    target = Sink().start()
    try:
        h.boards(board_toml("board", h.sink.url))
        worker = h.worker()
        write(h.postings, "a.md", posting_text("a"))
        h.sink.answers.append((307, {"Location": target.url}))
        worker.cycle()
        assert target.events == []
        [delivery] = worker.outbox.log.deliveries()
        assert (delivery.state, delivery.last_status, delivery.last_error) == (PENDING, 307, "http")
    finally:
        target.shutdown()
        target.server_close()


def test_an_unknown_host_is_a_dns_error(h: Harness) -> None:
    h.boards(board_toml("board", "http://no-such-board.invalid/hooks"))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    assert (delivery.state, delivery.last_error) == (PENDING, "dns")


def test_a_dead_workers_lease_is_reclaimed_after_it_expires(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    worker.scan()
    [held] = worker.outbox.claim(h.clock(), "killed-worker", 10, timedelta(seconds=30), ["board"])
    assert worker.deliver().attempts == 0, "leased to someone else"
    h.clock.advance(seconds=31)
    assert worker.deliver().outcomes == {SUCCEEDED: 1}
    assert [e["id"] for e in h.events()] == [held.webhook_id]


def test_boards_file_changes_take_effect_without_restart(h: Harness) -> None:
    h.boards("")
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    assert worker.cycle().events == 0
    h.boards(board_toml("board", h.sink.url))
    assert worker.cycle().events == 1
    h.boards("[[boards]]\nname = 'broken'\n")  # invalid: reported, and the last valid boards stay
    assert set(worker.boards()) == {"board"}
    assert worker.boards_file.error is not None and "broken" in str(worker.boards_file.error)


def test_secrets_never_reach_the_log(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    bad = board_toml("board", "http://no-such-board.invalid/hooks").replace("[[boards]]", "[[boards]]\ncolour = 1")
    h.boards(board_toml("board", "http://no-such-board.invalid/hooks"))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    worker.cycle()
    h.boards(bad)
    worker.boards()  # the broken file is logged with its reasons
    assert "enqueued posting.created" in caplog.text and "dns" in caplog.text and "colour" in caplog.text
    secret_body = DEMO_SECRET.removeprefix("whsec_")
    assert secret_body not in caplog.text
    assert secret_body not in repr(worker.boards()) and secret_body not in str(worker.boards()["board"].secret)


def test_sign_with_the_attempt_time(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.clock.advance(hours=5)  # the scheduling clock may run anywhere; signatures carry the real time
    worker.cycle()
    [event] = h.events()
    # what is pinned is that signatures carry the real time, which receivers check
    assert abs(int(event["timestamp"]) - datetime.now(UTC).timestamp()) < 60  # wall-clock: the signature's time


def make_many(folder: Path, count: int, make: Callable[[int], str]) -> None:
    for n in range(count):
        write(folder, f"p{n:03d}.md", make(n))


def test_metrics_show_deliveries_by_state_and_board_health(h: Harness) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(h.metrics).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.sink.answers.append((500, {}))
    worker.cycle()
    failing = samples()
    assert failing[("syndicate_deliveries", (("board", "board"), ("state", "pending")))] == 1
    assert failing[("syndicate_board_consecutive_failures", (("board", "board"),))] == 1
    assert failing[("syndicate_board_disabled", (("board", "board"),))] == 0
    h.clock.advance(seconds=6)
    worker.cycle()
    healthy = samples()
    assert healthy[("syndicate_deliveries", (("board", "board"), ("state", "succeeded")))] == 1
    assert healthy[("syndicate_board_consecutive_failures", (("board", "board"),))] == 0


def test_an_attempt_with_too_little_lease_left_is_given_back_unsent(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker(lease_seconds=3.0, delivery_timeout=2.0)
    write(h.postings, "a.md", posting_text("a"))
    worker.scan()
    real_clock = worker.clock
    ticks = iter(range(1, 1000))
    worker.clock = lambda: real_clock() + timedelta(seconds=1.5 * next(ticks))  # time flies between claim and send
    report = worker.deliver()
    assert report.attempts == 0 and h.sink.requests_seen == 0
    [item] = worker.outbox.log.deliveries()
    assert (item.state, item.attempts, item.lease_owner) == (PENDING, 0, None), "given back at once"
    worker.clock = real_clock
    assert worker.deliver().outcomes == {SUCCEEDED: 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0", "the schedule's next step", id="Retry-After 0 waits the schedule's next step"),
        pytest.param(
            "Wed, 21 Oct 2015 07:28:00 GMT", "the schedule's next step", id="a date in the past waits the next step"
        ),
        pytest.param("3", "the schedule's next step", id="a pause shorter than the next step waits the step"),
        pytest.param("600", 600, id="a pause longer than the next step waits the pause"),
        pytest.param("99999999999999999999999", 86400, id="a huge pause is capped at a day"),
    ],
)
def test_retry_after_never_shortens_the_schedule_and_is_capped(h: Harness, value: str, expected: object) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    h.sink.answers.append((503, {"Retry-After": value}))
    worker.cycle()
    [item] = worker.outbox.log.deliveries()
    wait = (item.next_attempt_at - h.clock.now).total_seconds()
    assert item.state == PENDING and item.attempts == 1
    if expected == "the schedule's next step":
        step = float(h.schedule.split(",")[1])  # the step after the first attempt: 5 s
        assert step * (1 - JITTER) <= wait <= step * (1 + JITTER), wait
    else:
        assert wait == expected


def test_a_removed_board_is_paused_not_forgotten(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a"))
    worker.cycle()
    h.boards("")  # the board leaves boards.toml (or the file is briefly missing)
    path.write_text(posting_text("a", status="closed"), encoding="utf-8")
    worker.cycle()
    h.boards(board_toml("board", h.sink.url))
    worker.cycle()
    assert h.received() == [("posting.created", "a", 1), ("posting.closed", "a", 2)], "no second backfill"


def test_a_board_that_does_not_take_updates_still_gets_the_current_content(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url, events=["posting.created"]))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a", title="One"))
    worker.scan()
    path.write_text(posting_text("a", title="Two"), encoding="utf-8")
    worker.scan()
    write(h.postings, "b.md", posting_text("b", title="Brief"))
    worker.scan()
    (h.postings / "b.md").unlink()
    worker.scan()
    worker.deliver()
    [event] = h.events()
    assert event["payload"]["type"] == "posting.created"
    assert event["payload"]["data"]["posting"]["title"] == "Two", "not the stale first version"


def test_a_close_of_a_posting_the_board_never_got_cancels_both(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a"))
    worker.scan()
    path.unlink()
    worker.scan()
    assert worker.deliver().attempts == 0
    assert {d.state for d in worker.outbox.log.deliveries()} == {SUPERSEDED}


def test_a_file_that_fails_to_parse_keeps_its_last_state(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    path = write(h.postings, "a.md", posting_text("a", title="Stable"))
    worker.cycle()
    path.write_text("---\ntitle: [unclosed\n", encoding="utf-8")  # a typo, or a save caught half-written
    assert worker.cycle().events == 0, "no close for a typo"
    path.write_text(posting_text("a", title="Stable"), encoding="utf-8")
    assert worker.cycle().events == 0, "the same content again: nothing owed"
    assert h.received() == [("posting.created", "a", 1)]


def test_a_hanging_board_does_not_hold_up_another(h: Harness) -> None:
    slow = Sink(delay_ms=700).start()
    try:
        h.boards(board_toml("slow", slow.url), board_toml("fast", h.sink.url))
        worker = h.worker(delivery_concurrency=4, delivery_timeout=5.0, lease_seconds=60.0)
        for n in range(12):
            write(h.postings, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
        worker.scan()
        started = time.monotonic()
        worker.deliver()
        fast_done = max(e["at"] for e in h.events()) - started
        slow_done = max(e["at"] for e in slow.events) - started
        assert len(h.events()) == 12 and len(slow.events) == 12
        assert fast_done < 1.5 < slow_done, (fast_done, slow_done)
    finally:
        slow.shutdown()
        slow.server_close()


def test_two_workers_never_claim_the_same_delivery(h: Harness) -> None:
    h.boards(board_toml("board", h.sink.url))
    first, second = h.worker(), h.worker()
    for n in range(60):
        write(h.postings, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
    first.scan()
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def take(worker: Worker, into: list[str]) -> None:
        barrier.wait()
        for _ in range(10):
            batch = worker.outbox.claim(h.clock(), worker.owner, 7, timedelta(seconds=30), ["board"])
            into.extend(d.webhook_id for d in batch)

    threads = [threading.Thread(target=take, args=(w, c)) for w, c in zip((first, second), claimed, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == 60


def test_a_board_that_answered_410_gets_nothing_more(h: Harness) -> None:
    """The deliveries a board had already claimed were still sent after its 410 (11 to 20 POSTs): now its
    lane starts nothing more; only what was already in flight beside the 410 arrives."""
    h.boards(board_toml("gone", h.sink.url))
    worker = h.worker(delivery_concurrency=4)
    for n in range(20):
        write(h.postings, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
    h.sink.answers.extend([(410, {})] * 20)
    worker.cycle()
    in_flight_beside_it = 4
    assert h.sink.requests_seen <= in_flight_beside_it, h.sink.requests_seen
    assert worker.outbox.log.disabled_boards() == {"gone"}
    waiting = worker.outbox.log.deliveries(board="gone")
    assert len(waiting) == 20 and all(d.state == PENDING and d.lease_owner is None for d in waiting)
    h.clock.advance(hours=1)
    worker.cycle()
    assert h.sink.requests_seen <= in_flight_beside_it, "and nothing after it either"


def test_a_result_that_arrives_after_the_lease_was_lost_is_kept_if_nobody_sent_since(h: Harness) -> None:
    from syndicate.store.records import Attempt, Outcome

    h.boards(board_toml("board", h.sink.url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    worker.scan()
    outbox, lease = worker.outbox, timedelta(seconds=30)
    [mine] = outbox.claim(h.clock(), "me", 10, lease, ["board"])

    def outcome(item, state: str, status: int) -> Outcome:
        attempt = Attempt(item.webhook_id, h.clock(), status, 5.0, None if status < 300 else "http", None)
        return Outcome(item, attempt, state, None if state == SUCCEEDED else h.clock() + timedelta(seconds=5))

    h.clock.advance(seconds=31)  # my lease ran out while I sent; another worker took the delivery over
    [theirs] = outbox.claim(h.clock(), "them", 10, lease, ["board"])
    assert theirs.seq == mine.seq
    assert outbox.record([outcome(mine, PENDING, 500)], h.clock()) == 0, "a late failure leaves it to them"
    assert outbox.record([outcome(mine, SUCCEEDED, 204)], h.clock()) == 1, "a late success is not thrown away"
    assert outbox.record([outcome(theirs, PENDING, 500)], h.clock()) == 0, "the board has it: theirs is moot"
    [row] = outbox.log.deliveries()
    assert (row.state, row.attempts, row.last_status) == (SUCCEEDED, 1, 204)
    assert len(outbox.log.attempts(row.webhook_id)) == 3, "every attempt is in the log"

    write(h.postings, "a.md", posting_text("a", title="Edited"))
    worker.scan()
    [mine] = outbox.claim(h.clock(), "me", 10, lease, ["board"])
    h.clock.advance(seconds=31)
    [theirs] = outbox.claim(h.clock(), "them", 10, lease, ["board"])
    assert outbox.record([outcome(theirs, PENDING, 500)], h.clock()) == 1
    assert outbox.record([outcome(mine, SUCCEEDED, 204)], h.clock()) == 0, "someone sent it since: not mine"


def test_urls_with_credentials_are_never_shown_or_stored_whole(h: Harness) -> None:
    import json as json_

    from processes import run_cli, service_env

    url = "http://hook-user:hook-pass@127.0.0.1:9/hooks?token=tok-secret-123&v=2"  # nothing listens on port 9
    h.boards(board_toml("board", url))
    worker = h.worker()
    write(h.postings, "a.md", posting_text("a"))
    worker.cycle()
    [delivery] = worker.outbox.log.deliveries()
    [attempt] = worker.outbox.log.attempts(delivery.webhook_id)
    assert attempt.error_class == "connect" and attempt.excerpt
    env = service_env(h.tmp_path, h.postings, h.database_url, SYNDICATE_BOARDS=str(h.boards_path))

    def cli(*args: str) -> str:
        done = run_cli(env, *args)
        return done.stdout + done.stderr

    shown = cli("boards") + cli("deliveries", "--format", "json") + attempt.excerpt
    for secret in ("hook-user", "hook-pass", "tok-secret-123"):
        assert secret not in shown, secret
    assert "http://***@127.0.0.1:9/hooks?token=***&v=***" in shown
    log = json_.loads(cli("deliveries", "--format", "json"))
    assert log[0]["attempt_log"][0]["error"] == "connect"
