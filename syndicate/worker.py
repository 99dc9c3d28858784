"""The worker: scan the postings for owed events, deliver what is due. One cycle is one call.

``Worker.cycle()`` runs one scan and delivers until nothing is due; tests call
it with a clock they control. ``run_worker`` only schedules the same functions
with APScheduler's ``BlockingScheduler`` (explicit job ids, ``coalesce``,
``max_instances=1``): a cheap watch every ``SYNDICATE_WATCH_INTERVAL`` seconds
that scans when files, boards or the expiry epoch changed, a full scan every
``SYNDICATE_SCAN_INTERVAL``, a one-off scan at the next ``valid_through``, and
delivery every second (and at once after a scan that enqueued something).
SIGTERM finishes the attempts in flight, gives back unsent leases and exits.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType

import requests

from . import changes
from .boards import Board, BoardsFile
from .catalog import Catalog
from .clock import Clock, system_clock
from .delivery import Answer, Policy, decide, send
from .jsonld import job_posting
from .loader import PostingLoader
from .outbox import Attempt, Delivery, NewDelivery, Outbox, Outcome
from .settings import Settings
from .snapshot import Snapshot
from .store import Store
from .urls import Links
from .webhook import body_bytes, envelope, new_webhook_id

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# Claims and records are a transaction each: taken in batches they cost little per delivery.
CLAIM_BATCH = 256
RECORD_BATCH = 128


@dataclass
class CycleReport:
    events: int = 0
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Worker:
    """Everything one worker process owns: the outbox, the boards file, HTTP sessions, a send pool."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        loader: PostingLoader,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.loader = loader
        self.outbox = Outbox(store)
        self.boards_file = BoardsFile(settings.boards_path)
        self.policy = Policy(settings.retry_schedule, settings.connect_timeout, settings.delivery_timeout)
        self.links = Links.from_base(settings.base_url or DEFAULT_BASE_URL)
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.pool = ThreadPoolExecutor(settings.delivery_concurrency, thread_name_prefix="deliver")
        self.stopping = threading.Event()
        self._local = threading.local()
        self._scanned: tuple[int, int, tuple[Board, ...]] | None = None  # (generation, epoch, boards)
        self._catalog: Catalog | None = None
        self._scan_lock = threading.Lock()

    # --- boards and sessions ------------------------------------------------------------

    def boards(self) -> dict[str, Board]:
        return {b.name: b for b in self.boards_file.boards()}

    def session(self, board: str) -> requests.Session:
        """One pooled session per board and sending thread (a Session is not shared across threads)."""
        sessions = self._local.__dict__.setdefault("sessions", {})
        if board not in sessions:
            session = requests.Session()
            session.trust_env = False  # no proxy or netrc from the environment for webhook calls
            sessions[board] = session
        return sessions[board]

    # --- scan -------------------------------------------------------------------------------

    def build(self, now: datetime) -> Callable[[list[changes.Event]], list[NewDelivery]]:
        def build(events: list[changes.Event]) -> list[NewDelivery]:
            out = []
            documents: dict[tuple[str, int], dict | None] = {}  # one JSON-LD per posting version, for every board
            for e in events:
                url = self.links.job(e.posting_id)
                key = (e.posting_id, e.version)
                if key not in documents:
                    documents[key] = job_posting(e.posting, url) if e.posting is not None else None
                body = body_bytes(envelope(e.type, e.posting_id, e.version, url, documents[key], now))
                out.append(NewDelivery(new_webhook_id(), e.board, e.posting_id, e.type, e.version, body))
            return out

        return build

    def scan(self, *, dry_run: bool = False) -> list[NewDelivery] | None:
        """Compare the postings with what each board was sent; enqueue what is owed, atomically,
        and return it (None: another worker is scanning). ``dry_run``: the same, rolled back.

        One scan at a time in a process (the watch, the schedule and the expiry job all scan):
        a scan of an older snapshot must never commit after a newer one.
        """
        with self._scan_lock:
            return self._scan(dry_run)

    def _scan(self, dry_run: bool) -> list[NewDelivery] | None:
        self.loader.maybe_refresh(0)
        snapshot = self.loader.snapshot
        boards = tuple(self.boards().values())
        now = self.clock()

        def compute(postings: dict, sent: dict) -> changes.Plan:
            return changes.plan(snapshot, now, boards, postings, sent)

        enqueued = self.outbox.scan(compute, self.build(now), now, [b.name for b in boards], dry_run=dry_run)
        if dry_run:
            return enqueued
        self._scanned = (snapshot.generation, self._epoch(snapshot, now), boards)
        for d in enqueued or ():
            log.info("enqueued %s v%d of %s for board %s", d.event_type, d.version, d.posting_id, d.board)
        return enqueued

    def needs_scan(self) -> bool:
        """The cheap check: did the files, the boards or the expiry epoch change since the last scan?"""
        self.loader.maybe_refresh(0)
        snapshot = self.loader.snapshot
        boards = tuple(self.boards().values())
        return self._scanned != (snapshot.generation, self._epoch(snapshot, self.clock()), boards)

    def _catalog_of(self, snapshot: Snapshot, now: datetime) -> Catalog:
        if self._catalog is None or self._catalog.snapshot is not snapshot:
            self._catalog = Catalog(snapshot, now)
        return self._catalog

    def _epoch(self, snapshot: Snapshot, now: datetime) -> int:
        """How many expiries have passed: a change of it is a change of what is listed."""
        return self._catalog_of(snapshot, now).epoch(now)

    def next_expiry(self) -> datetime | None:
        snapshot, now = self.loader.snapshot, self.clock()
        return self._catalog_of(snapshot, now).next_expiry(self._epoch(snapshot, now))

    # --- delivery -----------------------------------------------------------------------------

    def send(self, item: Delivery, board: Board) -> Outcome:
        """Send one delivery once; what happened and what follows (recorded by the caller)."""
        answer = send(
            self.session(board.name),
            board.url,
            board.secret.reveal(),
            item.webhook_id,
            item.body,
            self.policy,
            system_clock,  # the signature carries the real time of the attempt: receivers check it
        )
        now = self.clock()
        decision = decide(answer, item.attempts + 1, self.policy, now, self.rng)
        attempt = Attempt(item.webhook_id, now, answer.status, answer.duration_ms, answer.error_class, answer.excerpt)
        if decision.disable_reason:
            log.error("board %s answered 410 Gone: disabled until `syndicate boards enable %s`", board.name, board.name)
        elif answer.error_class:
            log.warning(
                "delivery %s to %s: %s %s; next: %s",
                item.webhook_id,
                board.name,
                answer.error_class,
                answer.status or "",
                decision.state,
            )
        return Outcome(item, attempt, decision.state, decision.next_attempt_at, decision.count, decision.disable_reason)

    def attempt(self, item: Delivery, board: Board) -> str:
        """Send one delivery once and record it; returns the delivery's new state."""
        outcome = self.send(item, board)
        self.outbox.record([outcome])
        return outcome.state

    def deliver(self, report: CycleReport | None = None) -> CycleReport:
        """Deliver everything due now, until nothing is due.

        This thread claims deliveries in batches (a window of ``CLAIM_BATCH``, shared fairly
        between boards) and records finished attempts in batches, one transaction each; the
        pool's threads take claimed deliveries themselves, round-robin over boards, each
        board at most its share of the pool (a board that hangs holds up only itself).
        Recording can make more due (the next version of a posting waits for the one before),
        so it ends only when a claim after the last record finds nothing. An attempt whose
        lease would run out before it could finish is not sent but given back, so live
        workers never send one delivery twice.
        """
        report = report or CycleReport()
        concurrency = self.settings.delivery_concurrency
        boards = self.boards()
        lanes = _Lanes(_share(concurrency, len(boards)))
        for _ in range(concurrency):
            self.pool.submit(self._run_lane, lanes)
        drained = False
        try:
            while True:
                if not drained and not self.stopping.is_set() and lanes.held() <= CLAIM_BATCH // 4:
                    boards = self.boards()
                    lanes.set_share(_share(concurrency, len(boards)))
                    window = max(2 * lanes.share, CLAIM_BATCH // max(1, len(boards)))
                    room = {b: window - lanes.held(b) for b in boards}
                    claimed = self.outbox.claim(
                        self.clock(), self.owner, CLAIM_BATCH - lanes.held(), self.lease, boards, room
                    )
                    drained = not claimed
                    lanes.add(claimed, boards)
                if self.stopping.is_set():
                    lanes.drop_waiting()  # what has not started goes back at once
                refill_at = -1 if drained or self.stopping.is_set() else CLAIM_BATCH // 4
                finished, unsent, idle = lanes.collect(RECORD_BATCH, wait=True, refill_at=refill_at)
                if unsent:
                    self.outbox.release_items(unsent, self.clock())
                    drained = True  # given back: the next delivery round takes them, with a fresh lease
                if finished:
                    self.outbox.record(finished)
                    for done in finished:
                        report.attempts += 1
                        report.outcomes[done.state] = report.outcomes.get(done.state, 0) + 1
                    drained = False  # what was recorded may have unblocked the next version of a posting
                elif idle and not unsent and (drained or self.stopping.is_set()):
                    return report
        finally:
            lanes.close()

    def _run_lane(self, lanes: _Lanes) -> None:
        """A pool thread: take the next delivery a board has room for, send it, hand back the outcome."""
        while True:
            taken = lanes.take()
            if taken is None:
                return
            item, board = taken
            lanes.finish(item, self._attempt_once(item, board))

    def _attempt_once(self, item: Delivery, board: Board) -> Outcome | None:
        """Send unless too little lease is left (None: not sent); a bug is recorded as an attempt."""
        try:
            lease_left = (item.lease_until - self.clock()).total_seconds() if item.lease_until else 0
            if lease_left <= self.policy.total_timeout or self.stopping.is_set():
                return None
            return self.send(item, board)
        except Exception as exc:  # a bug, not a network failure: recorded as a failed attempt, retried later
            log.exception("delivery attempt of %s failed unexpectedly", item.webhook_id)
            now = self.clock()
            answer = Answer(None, 0.0, "internal", f"{type(exc).__name__}: {exc}"[:200])
            decision = decide(answer, item.attempts + 1, self.policy, now, self.rng)
            attempt = Attempt(item.webhook_id, now, None, 0.0, "internal", answer.excerpt)
            return Outcome(item, attempt, decision.state, decision.next_attempt_at, decision.count)

    def cycle(self) -> CycleReport:
        """One scan, then delivery of everything due: what ``syndicate push`` and the tests run."""
        enqueued = self.scan()
        report = CycleReport(events=len(enqueued or ()))
        return self.deliver(report)

    def stop(self) -> None:
        """Finish the attempts in flight, give back leases of the rest, close the pool."""
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        released = self.outbox.release(self.owner, self.clock())
        if released:
            log.info("released %d leased deliveries for another run", released)


class _Lanes:
    """Claimed deliveries waiting per board, taken by pool threads round-robin within each
    board's share; finished outcomes collected for the recording thread. One lock, one condition."""

    def __init__(self, share: int) -> None:
        self.share = share
        self._cond = threading.Condition()
        self._waiting: dict[str, deque[tuple[Delivery, Board]]] = {}
        self._running: dict[str, int] = {}
        self._finished: list[Outcome] = []
        self._unsent: list[Delivery] = []
        self._closed = False
        self._turn = 0

    def set_share(self, share: int) -> None:
        with self._cond:
            self.share = share
            self._cond.notify_all()

    def held(self, board: str | None = None) -> int:
        with self._cond:
            if board is not None:
                return len(self._waiting.get(board, ())) + self._running.get(board, 0)
            return sum(len(q) for q in self._waiting.values()) + sum(self._running.values())

    def idle(self) -> bool:
        with self._cond:
            return not any(self._waiting.values()) and not any(self._running.values())

    def add(self, items: list[Delivery], boards: dict[str, Board]) -> None:
        with self._cond:
            for item in items:
                if item.board in boards:
                    self._waiting.setdefault(item.board, deque()).append((item, boards[item.board]))
                else:  # the board left boards.toml between the claim and now
                    self._unsent.append(item)
            self._cond.notify_all()

    def drop_waiting(self) -> None:
        with self._cond:
            for queue_ in self._waiting.values():
                self._unsent.extend(item for item, _ in queue_)
                queue_.clear()
            self._cond.notify_all()

    def take(self) -> tuple[Delivery, Board] | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                names = [n for n, q in self._waiting.items() if q and self._running.get(n, 0) < self.share]
                if names:
                    name = names[self._turn % len(names)]
                    self._turn += 1
                    self._running[name] = self._running.get(name, 0) + 1
                    return self._waiting[name].popleft()
                self._cond.wait()

    def finish(self, item: Delivery, outcome: Outcome | None) -> None:
        with self._cond:
            self._running[item.board] -= 1
            if outcome is None:
                self._unsent.append(item)
            else:
                self._finished.append(outcome)
            self._cond.notify_all()

    def collect(self, batch: int, wait: bool, refill_at: int) -> tuple[list[Outcome], list[Delivery], bool]:
        """(finished, unsent, idle). With ``wait``: until a batch is done, or no more than
        ``refill_at`` deliveries are held (time to claim more), or nothing is left in flight."""
        with self._cond:
            while wait:
                held = sum(len(q) for q in self._waiting.values()) + sum(self._running.values())
                if not held or held <= refill_at or len(self._finished) + len(self._unsent) >= batch:
                    break
                self._cond.wait()
            finished, self._finished = self._finished, []
            unsent, self._unsent = self._unsent, []
            idle = not any(self._waiting.values()) and not any(self._running.values())
            return finished, unsent, idle

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _share(concurrency: int, boards: int) -> int:
    """Attempts one board may have running: all of them when it is alone, else half the pool
    (rounded up), so a board that hangs leaves the other half to the rest."""
    return concurrency if boards <= 1 else max(1, -(-concurrency // 2))


def run_worker(worker: Worker) -> None:
    """The worker process: APScheduler jobs around ``Worker``, until SIGTERM or SIGINT."""
    from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = worker.settings
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run would drown the log
    scheduler = BlockingScheduler(
        executors={"default": JobExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone="UTC",
    )

    def schedule_expiry() -> None:
        upcoming = worker.next_expiry()
        if upcoming is not None:
            run_at = upcoming + timedelta(microseconds=1)  # expired means now > valid_through
            scheduler.add_job(scan, "date", run_date=run_at, id="expiry", replace_existing=True)

    def scan() -> None:
        if worker.stopping.is_set():
            return
        events = worker.scan()
        schedule_expiry()
        if events:
            scheduler.modify_job("deliver", next_run_time=system_clock())  # deliver now, not at the next tick

    def watch() -> None:
        if not worker.stopping.is_set() and worker.needs_scan():
            scan()

    def deliver() -> None:
        if not worker.stopping.is_set():
            worker.deliver()

    scheduler.add_job(watch, "interval", seconds=settings.watch_interval, id="watch")
    scheduler.add_job(scan, "interval", seconds=settings.scan_interval, id="scan", next_run_time=system_clock())
    scheduler.add_job(deliver, "interval", seconds=1, id="deliver", next_run_time=system_clock())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping.is_set():
            return  # a second signal while stopping: already on the way out
        log.info("signal %d: finishing attempts in flight, giving back the rest, then stopping", signum)
        worker.stopping.set()
        scheduler.shutdown(wait=True)  # the running delivery ends its attempts in flight

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s: %d board(s) from %s", worker.owner, len(worker.boards()), settings.boards_path)
    if worker.boards() and not settings.base_url:
        log.warning(
            "SYNDICATE_BASE_URL is not set: webhook payloads link to %s, which boards cannot reach",
            DEFAULT_BASE_URL,
        )
    try:
        scheduler.start()
    finally:
        worker.stop()
