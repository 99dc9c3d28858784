"""Boards that hang or drip, as the worker process meets them: each holds up only itself.

Real worker processes; the boards are real sockets: one accepts and never
answers, one answers a byte a second, one (the verifying sink) is healthy.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import posting_text, write
from faults import DrippingBoard, HangingBoard
from processes import WorkerProcess, service_env, wait_for

from bench.sink import DEMO_SECRET, Sink
from syndicate.store.engine import Store
from syndicate.store.log import DeliveryLog

pytestmark = pytest.mark.slow
DELIVERY_TIMEOUT = 3.0


@pytest.fixture
def hanging() -> Iterator[HangingBoard]:
    board = HangingBoard()
    yield board
    board.close()


@pytest.fixture
def dripping() -> Iterator[DrippingBoard]:
    board = DrippingBoard(interval=1.0)
    yield board
    board.close()


def boards_file(tmp_path: Path, **urls: str) -> Path:
    path = tmp_path / "boards.toml"
    path.write_text(
        "".join(
            f'[[boards]]\nname = "{name}"\nurl = "{url}"\nsecret = "{DEMO_SECRET}"\n' for name, url in urls.items()
        ),
        encoding="utf-8",
    )
    return path


def worker_env(tmp_path: Path, postings: Path, database_url: str, boards: Path, **more: str) -> dict[str, str]:
    settings = {
        "SYNDICATE_BOARDS": str(boards),
        "SYNDICATE_WATCH_INTERVAL": "0.1",
        "SYNDICATE_CONNECT_TIMEOUT": "2",
        "SYNDICATE_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT),
        "SYNDICATE_LEASE_SECONDS": "10",
        "SYNDICATE_RETRY_SCHEDULE": ",".join(["0"] + ["1"] * 19),
        "SYNDICATE_BASE_URL": "https://jobs.example",
    }
    return service_env(tmp_path, postings, database_url, **(settings | more))


def arrival(sink: Sink, title: str) -> float | None:
    with sink.lock:
        return next(
            (e["at"] for e in sink.events if (e["payload"]["data"]["posting"] or {}).get("title") == title), None
        )


def test_a_hanging_and_a_dripping_board_hold_up_only_themselves(
    tmp_path: Path,
    postings_dir: Path,
    database_url: str,
    sink: Sink,
    hanging: HangingBoard,
    dripping: DrippingBoard,
) -> None:
    for n in range(12):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=f"Role {n} v0"))
    boards = boards_file(tmp_path, healthy=sink.url, hanging=hanging.url, dripping=dripping.url)
    worker = WorkerProcess(worker_env(tmp_path, postings_dir, database_url, boards), tmp_path / "worker.log")
    latencies = []
    try:
        assert wait_for(lambda: len(sink.events) >= 12, 30), worker.output()  # the backfill, beside the others
        for n in range(12):  # while both slow boards hold attempts (and retries) of their own
            title = f"Role {n} v1"
            saved = time.monotonic()
            write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=title))
            assert wait_for(lambda title=title: arrival(sink, title) is not None, 30), worker.output()
            latencies.append(arrival(sink, title) - saved)  # type: ignore[operator]
        assert hanging.connections > 0 and dripping.connections > 0, "both slow boards were sent to meanwhile"
    finally:
        code, stopped_in = worker.stop()
    # alone, a board gets an edit in about 0.3 s; a hanging neighbour held it up for 31 s before lanes
    assert statistics.median(latencies) < 3.0, latencies
    assert max(latencies) < 6.0, latencies
    assert code == 0, worker.output()
    # SIGTERM with attempts hanging: they end by their deadline, the rest goes back, and it exits
    assert stopped_in < DELIVERY_TIMEOUT + 1.0, stopped_in  # each attempt in flight ends by its deadline
    store = Store(database_url)
    try:
        log = DeliveryLog(store)
        leased = [d for d in log.deliveries(limit=1000) if d.lease_owner is not None]
        slow = [a for d in log.deliveries(board="dripping", limit=1000) for a in log.attempts(d.webhook_id)]
    finally:
        store.close()
    assert not leased, "every lease was given back on the way out"
    # the deadline covers the whole attempt: a board dripping a byte a second held one for 150 s before
    assert slow and max(a.duration_ms for a in slow) < (DELIVERY_TIMEOUT + 0.5) * 1000
    assert all(a.error_class == "timeout" for a in slow), [
        (a.error_class, a.excerpt) for a in slow if a.error_class != "timeout"
    ]


def test_two_workers_never_send_one_delivery_at_the_same_time_to_a_slow_board(
    tmp_path: Path, postings_dir: Path, database_url: str, dripping: DrippingBoard
) -> None:
    """A dripping board outlived the lease and the same delivery went out again while the first send was
    still in flight. The deadline ends every attempt well inside its lease, so no send overlaps another."""
    for n in range(6):
        write(postings_dir, f"p{n}.md", posting_text(f"p{n}"))
    boards = boards_file(tmp_path, dripping=dripping.url)
    settings = worker_env(tmp_path, postings_dir, database_url, boards, SYNDICATE_LEASE_SECONDS="4")
    workers = [WorkerProcess(settings, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        assert wait_for(lambda: len(dripping.sends) >= 18, 60), workers[0].output()  # retries of every delivery
    finally:
        for worker in workers:
            worker.stop()
    by_id: dict[str, list[tuple[float, float]]] = {}
    for webhook_id, opened, closed in dripping.sends:
        by_id.setdefault(webhook_id, []).append((opened, closed))
    for webhook_id, spans in by_id.items():
        spans.sort()
        for (_, first_closed), (second_opened, _) in itertools.pairwise(spans):
            assert second_opened >= first_closed - 0.05, f"{webhook_id} was sent twice at once: {spans}"
