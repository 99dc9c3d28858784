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
import queue
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
from .delivery import Answer, Policy, decide, send
from .jsonld import job_posting
from .loader import PostingLoader, utcnow
from .outbox import Attempt, Delivery, NewDelivery, Outbox, Outcome
from .settings import Settings
from .snapshot import Snapshot
from .store import Store
from .urls import Links
from .webhook import body_bytes, envelope, new_webhook_id

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# Claims and records are a transaction each: taken in batches they cost little per delivery.
CLAIM_BATCH = 128
RECORD_BATCH = 64  # honcho's port, when SYNDICATE_BASE_URL is not set


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
        clock: Callable[[], datetime] = utcnow,
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

    def scan(self) -> list[changes.Event] | None:
        """Compare the postings with what each board was sent; enqueue what is owed, atomically.

        One scan at a time in a process (the watch, the schedule and the expiry job all scan):
        a scan of an older snapshot must never commit after a newer one.
        """
        with self._scan_lock:
            return self._scan()

    def _scan(self) -> list[changes.Event] | None:
        self.loader.maybe_refresh(0)
        snapshot = self.loader.snapshot
        boards = tuple(self.boards().values())
        now = self.clock()

        def compute(postings: dict, sent: dict) -> changes.Plan:
            return changes.plan(snapshot, now, boards, postings, sent)

        result = self.outbox.scan(compute, self.build(now), now, [b.name for b in boards])
        self._scanned = (snapshot.generation, self._epoch(snapshot, now), boards)
        if result is None:
            return None
        for e in result.events:
            log.info("enqueued %s v%d of %s for board %s", e.type, e.version, e.posting_id, e.board)
        return result.events

    def needs_scan(self) -> bool:
        """The cheap check: did the files, the boards or the expiry epoch change since the last scan?"""
        self.loader.maybe_refresh(0)
        snapshot = self.loader.snapshot
        boards = tuple(self.boards().values())
        return self._scanned != (snapshot.generation, self._epoch(snapshot, self.clock()), boards)

    def _epoch(self, snapshot: Snapshot, now: datetime) -> int:
        """How many expiries have passed: a change of it is a change of what is listed."""
        if self._catalog is None or self._catalog.snapshot is not snapshot:
            self._catalog = Catalog(snapshot, now)
        return self._catalog.epoch(now)

    def next_expiry(self) -> datetime | None:
        snapshot = self.loader.snapshot
        now = self.clock()
        return min(
            (p.valid_through for p in snapshot.postings.values() if p.is_open_at(now) and p.valid_through), default=None
        )

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
            utcnow,  # the signature carries the real time of the attempt, whatever clock schedules it
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
        between boards), hands them to the pool so that no board has more than its share of
        attempts running (a board that hangs holds up only itself), and records finished
        attempts in batches, one transaction each. Recording can make more due (the next
        version of a posting waits for the one before), so it ends only when a claim after
        the last record finds nothing. An attempt whose lease would run out before it could
        finish is not sent but given back, so no delivery is ever sent twice by live workers.
        """
        report = report or CycleReport()
        concurrency = self.settings.delivery_concurrency
        results: queue.SimpleQueue[tuple[Delivery, Outcome | None]] = queue.SimpleQueue()
        waiting: dict[str, deque[Delivery]] = {}
        running: dict[str, int] = {}
        finished: list[Outcome] = []
        unsent: list[Delivery] = []
        drained = False
        boards = self.boards()
        while True:
            boards = self.boards()
            share = max(1, concurrency // max(1, len(boards)))  # running attempts per board at most
            held = sum(len(q) for q in waiting.values()) + sum(running.values())
            if not drained and not self.stopping.is_set() and held < CLAIM_BATCH // 2:
                window = max(2 * share, CLAIM_BATCH // max(1, len(boards)))
                room = {b: window - len(waiting.get(b, ())) - running.get(b, 0) for b in boards}
                claimed = self.outbox.claim(self.clock(), self.owner, CLAIM_BATCH - held, self.lease, boards, room)
                drained = not claimed
                for item in claimed:
                    waiting.setdefault(item.board, deque()).append(item)
            for name in [n for n in waiting if self.stopping.is_set() or n not in boards]:
                unsent.extend(waiting.pop(name))  # stopping, or the board left boards.toml: give back
            # hand out work round-robin: each board up to its share, the pool up to its size
            busy = sum(running.values())
            progress = True
            while progress and busy < concurrency:
                progress = False
                for name, q in waiting.items():
                    if q and running.get(name, 0) < share and busy < concurrency and name in boards:
                        item = q.popleft()
                        self.pool.submit(self._send_to, results, item, boards[name])
                        running[name] = running.get(name, 0) + 1
                        busy += 1
                        progress = True
            if busy:
                item, outcome = results.get()
                while True:
                    running[item.board] -= 1
                    if outcome is None:
                        unsent.append(item)
                    else:
                        finished.append(outcome)
                    try:
                        item, outcome = results.get_nowait()
                    except queue.Empty:
                        break
            idle = not any(running.values())
            if unsent and (idle or len(unsent) >= RECORD_BATCH):
                self.outbox.release_items(unsent, self.clock())
                unsent = []
                drained = True  # given back: the next delivery round takes them, with a fresh lease
            if finished and (len(finished) >= RECORD_BATCH or idle):
                self.outbox.record(finished)
                for done in finished:
                    report.attempts += 1
                    report.outcomes[done.state] = report.outcomes.get(done.state, 0) + 1
                finished = []
                drained = False  # what was recorded may have unblocked the next version of a posting
            elif idle and not any(waiting.values()) and (drained or self.stopping.is_set()):
                return report

    def _send_to(
        self, results: queue.SimpleQueue[tuple[Delivery, Outcome | None]], item: Delivery, board: Board
    ) -> None:
        """Send in a pool thread; None back when it was not sent (too little lease left, or a bug)."""
        outcome = None
        try:
            lease_left = (item.lease_until - self.clock()).total_seconds() if item.lease_until else 0
            if lease_left > self.policy.total_timeout and not self.stopping.is_set():
                outcome = self.send(item, board)
        except Exception as exc:  # a bug, not a network failure: recorded as a failed attempt, retried later
            log.exception("delivery attempt of %s failed unexpectedly", item.webhook_id)
            now = self.clock()
            answer = Answer(None, 0.0, "internal", f"{type(exc).__name__}: {exc}"[:200])
            decision = decide(answer, item.attempts + 1, self.policy, now, self.rng)
            attempt = Attempt(item.webhook_id, now, None, 0.0, "internal", answer.excerpt)
            outcome = Outcome(item, attempt, decision.state, decision.next_attempt_at, decision.count)
        results.put((item, outcome))

    def cycle(self) -> CycleReport:
        """One scan, then delivery of everything due: what ``syndicate push`` and the tests run."""
        events = self.scan()
        report = CycleReport(events=len(events or ()))
        return self.deliver(report)

    def stop(self) -> None:
        """Finish the attempts in flight, give back leases of the rest, close the pool."""
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        released = self.outbox.release(self.owner, self.clock())
        if released:
            log.info("released %d leased deliveries for another run", released)


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
            scheduler.modify_job("deliver", next_run_time=utcnow())  # deliver now, not at the next tick

    def watch() -> None:
        if not worker.stopping.is_set() and worker.needs_scan():
            scan()

    def deliver() -> None:
        if not worker.stopping.is_set():
            worker.deliver()

    scheduler.add_job(watch, "interval", seconds=settings.watch_interval, id="watch")
    scheduler.add_job(scan, "interval", seconds=settings.scan_interval, id="scan", next_run_time=utcnow())
    scheduler.add_job(deliver, "interval", seconds=1, id="deliver", next_run_time=utcnow())

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
