"""The worker: scan the postings for owed events, deliver what is due. One cycle is one call.

``Worker.cycle()`` runs one scan and delivers until nothing is due; tests call it with a clock they
control. The process around it (the scheduler, the signals) is ``syndicate.push.process``.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests

from syndicate.clock import Clock, system_clock
from syndicate.outputs.catalog import Catalog
from syndicate.outputs.jsonld import job_posting
from syndicate.outputs.urls import Links
from syndicate.postings.loader import PostingLoader
from syndicate.postings.snapshot import Snapshot
from syndicate.push import changes, google, indexnow, websub
from syndicate.push.boards import GOOGLE, INDEXNOW, WEBHOOK, WEBSUB, Board, BoardsFile, websub_boards
from syndicate.push.delivery import Answer, Policy, deadline_of, decide, new_session, send, user_agent
from syndicate.push.lanes import Lanes
from syndicate.push.webhook import body_bytes, envelope, new_webhook_id
from syndicate.settings import Settings
from syndicate.store.database import Database
from syndicate.store.engine import Store
from syndicate.store.log import DeliveryLog
from syndicate.store.outbox import Outbox
from syndicate.store.quota import QuotaLedger
from syndicate.store.records import PENDING, SUPERSEDED, Attempt, Delivery, NewDelivery, Outcome

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# Records are a transaction each: taken in batches they cost little per delivery.
RECORD_BATCH = 128
POLL_SECONDS = 0.5  # how often a running worker looks for deliveries that became due (retries)
LEASE_MARGIN = 0.5  # seconds of lease an attempt must have left beyond its deadline to be started


@dataclass
class CycleReport:
    events: int = 0
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Worker:
    """Everything one worker process owns: the outbox, the boards file, HTTP sessions, the lanes."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        loader: PostingLoader,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self.loader = loader
        self.outbox = Outbox(store)
        self.database = database or loader.database
        self.boards_file = BoardsFile(settings.boards_path)
        self.hub_boards = websub_boards(settings.websub_hubs)  # no boards.toml entry: SYNDICATE_WEBSUB_HUBS
        self.policy = Policy(settings.retry_schedule, settings.connect_timeout, settings.delivery_timeout)
        self.links = Links.from_base(settings.base_url or DEFAULT_BASE_URL)
        self.user_agent = user_agent(settings.base_url or DEFAULT_BASE_URL)  # on every request it sends
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.stopping = threading.Event()
        self._lanes: Lanes | None = None
        self._local = threading.local()
        self._scanned: tuple[int, int, tuple[Board, ...]] | None = None  # (generation, epoch, boards)
        self._catalog: Catalog | None = None
        self._scan_lock = threading.Lock()
        self._redeliveries: dict[tuple[str, datetime], None] = {}  # redeliver runs announced (board, queued at)
        self.quota = QuotaLedger(store)  # google-indexing boards' calls per UTC day, across workers
        self.tokens = google.Tokens()  # google-indexing boards' access tokens, kept until they expire
        self._spent: set[tuple[str, str]] = set()  # (board, day) whose spent quota was logged
        self._wake_lock = threading.Lock()
        self._wake_dues: list[float] = []  # planned wake-ups (time.monotonic()), a heap: websub's due times
        self._wake_timer: threading.Timer | None = None  # one thread, for the earliest
        self._wake_timer_at = 0.0
        self._configs: tuple[Board, ...] | None = None  # the boards whose 403s were last checked against

    # --- boards and sessions ------------------------------------------------------------

    def boards(self) -> dict[str, Board]:
        return {b.name: b for b in (*self.boards_file.boards(), *self.hub_boards)}

    def session(self, board: str) -> requests.Session:
        """One pooled session per board and sending thread (a Session is not shared across threads)."""
        sessions = self._local.__dict__.setdefault("sessions", {})
        if board not in sessions:
            sessions[board] = new_session(self.user_agent)
        return sessions[board]

    # --- scan -------------------------------------------------------------------------------

    def build(
        self, now: datetime, boards: tuple[Board, ...] | None = None
    ) -> Callable[[list[changes.Event]], list[NewDelivery]]:
        kinds = {b.name: b.kind for b in (self.boards().values() if boards is None else boards)}

        def build(events: list[changes.Event]) -> list[NewDelivery]:
            out = []
            documents: dict[tuple[str, int], dict | None] = {}  # one JSON-LD per posting version, for every board
            hubs = self._websub_bodies([e for e in events if kinds.get(e.board) == WEBSUB], now)
            for e in events:
                kind = kinds.get(e.board, WEBHOOK)
                if kind == WEBSUB:
                    out.append(hubs[(e.board, e.posting_id)])
                    continue
                url = self.links.job(e.posting_id)
                # a channel's body is the call's content only: the key or token is added when sending
                if kind == INDEXNOW:
                    body = indexnow.stored_body(url, self.links.sitemap)
                elif kind == GOOGLE:
                    body = google.stored_body(url, e.type)
                else:
                    key = (e.posting_id, e.version)
                    if key not in documents:
                        documents[key] = job_posting(e.posting, url) if e.posting is not None else None
                    body = body_bytes(envelope(e.type, e.posting_id, e.version, url, documents[key], now))
                out.append(NewDelivery(new_webhook_id(), e.board, e.posting_id, e.type, e.version, body, kind=kind))
            return out

        return build

    def _websub_bodies(self, events: list[changes.Event], now: datetime) -> dict[tuple[str, str], NewDelivery]:
        """The websub deliveries of ``events``: the topics each owes (what the posting is listed in now and
        what the hub's earlier deliveries of it leave owed), not due before the web has re-read the file."""
        history: dict[str, dict[str, list[tuple[str, bytes]]]] = {}
        for board in {e.board for e in events}:
            pids = [e.posting_id for e in events if e.board == board]
            history[board] = self.outbox.log.history(board, pids, websub.HISTORY)
        due = websub.due_at(now, self.settings.reload_interval)
        out = {}
        for e in events:
            listed = websub.listed_filters(e.posting) if e.posting is not None and e.type != changes.CLOSED else []
            before = websub.owed_before(history[e.board].get(e.posting_id, ()), self.links)
            if before is None and e.posting is not None:  # no earlier delivery left: the posting as it is
                before = set(websub.feed_urls(self.links, websub.listed_filters(e.posting)))
            body = websub.stored_body(websub.topics(self.links, listed, before), listed)
            delivery = NewDelivery(
                new_webhook_id(), e.board, e.posting_id, e.type, e.version, body, due_at=due, kind=WEBSUB
            )
            out[(e.board, e.posting_id)] = delivery
        return out

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

        kinds = {b.name: b.kind for b in boards}
        enqueued = self.outbox.scan(compute, self.build(now, boards), now, kinds, dry_run=dry_run)
        if dry_run:
            return enqueued
        later = [d.due_at for d in enqueued or () if d.due_at is not None and d.due_at > now]
        if later:
            self._wake_at((min(later) - now).total_seconds())
        before = self._scanned
        self._scanned = (snapshot.generation, self._epoch(snapshot, now), boards)
        # a board that appeared in boards.toml while this worker runs: one line for it, not one per posting
        added = {b.name for b in boards} - {b.name for b in before[2]} if before is not None else set()
        owed: dict[str, list[NewDelivery]] = {name: [] for name in added}
        for d in enqueued or ():
            if d.board in owed:
                owed[d.board].append(d)
            else:
                log.info("enqueued %s v%d of %s for board %s", d.event_type, d.version, d.posting_id, d.board)
        for name in sorted(owed):
            created = sum(1 for d in owed[name] if d.event_type == changes.CREATED)
            other = len(owed[name]) - created
            more = f", and {other} other event(s) owed since it was last listed" if other else ""
            log.info("board %s added: backfilling %d open posting(s)%s", name, created, more)
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
        return self.send_many([item], board)[0]

    def send_many(self, items: list[Delivery], board: Board) -> list[Outcome]:
        """Send deliveries of one board in one call (an indexnow board; a webhook board takes one), and
        what follows for each: every delivery gets the call's answer as its own attempt."""
        if board.kind == GOOGLE and board.account is not None:
            assert len(items) == 1  # one call per notification, in the order claimed
            return [self._send_google(items[0], board)]
        if board.kind == INDEXNOW and board.key is not None:
            bodies = [item.body for item in items]
            answer = indexnow.send(
                self.session(board.name), board.url, board.key.reveal(), self.links, bodies, self.policy
            )
        elif board.kind == WEBSUB:
            answer = websub.send(self.session(board.name), board.url, [item.body for item in items], self.policy)
        else:
            assert board.secret is not None and len(items) == 1  # a webhook board: one signed event a call
            answer = send(
                self.session(board.name),
                board.url,
                board.secret.reveal(),
                items[0].webhook_id,
                items[0].body,
                self.policy,
                system_clock,  # the signature carries the real time of the attempt: receivers check it
            )
        now = self.clock()
        outcomes = []
        for item in items:
            decision = decide(answer, item.attempts + 1, self.policy, now, self.rng)
            attempt = Attempt(
                item.webhook_id, now, answer.status, answer.duration_ms, answer.error_class, answer.excerpt
            )
            outcomes.append(
                Outcome(
                    item, attempt, decision.state, decision.next_attempt_at, decision.count, decision.disable_reason
                )
            )
        if outcomes[0].disable_reason:
            log.error("board %s answered 410 Gone: disabled until `syndicate boards enable %s`", board.name, board.name)
        elif answer.error_class:
            _log_failure(items, board, answer, outcomes[0].state)
        return outcomes

    def _send_google(self, item: Delivery, board: Board) -> Outcome:
        """One publish call, if the day's quota has room for it (else it waits for the next UTC day,
        unsent and uncounted). The token comes first, so a token endpoint that fails spends no quota;
        then the ledger is asked, so no worker calls beyond the quota. Both share one deadline."""
        assert board.account is not None
        session = self.session(board.name)
        with deadline_of(self.policy):
            token = google.authorize(session, board.account, self.tokens, self.policy)
            if isinstance(token, Answer):
                answer = token
            else:
                now = self.clock()
                day = google.day_of(now)
                quota = board.daily_quota
                # the same attempt again (after a crash) is counted once
                if not self.database.call(
                    lambda: self.quota.reserve(board.name, day, item.webhook_id, quota, now), False
                ):
                    return self._wait_for_quota(item, board, now)
                answer = google.publish(session, board.url, token, item.body, self.policy, self.tokens, board.account)
        now = self.clock()
        decision = google.decide(answer, item.attempts + 1, self.policy, now, self.rng, board.account)
        if answer.status == 429 and decision.next_attempt_at == google.next_day(now):
            self.database.call(lambda: self.quota.spend(board.name, google.day_of(now), now), None)  # today's
            log.warning("board %s: Google answered 429: no more calls until %s", board.name, decision.next_attempt_at)
        attempt = Attempt(item.webhook_id, now, answer.status, answer.duration_ms, answer.error_class, answer.excerpt)
        if decision.disable_reason:
            log.error("board %s disabled: %s", board.name, decision.disable_reason)
        elif answer.error_class:
            _log_failure([item], board, answer, decision.state)
        return Outcome(
            item,
            attempt,
            decision.state,
            decision.next_attempt_at,
            decision.count,
            decision.disable_reason,
            board.config_digest if decision.disable_reason else None,
        )

    def _wait_for_quota(self, item: Delivery, board: Board, now: datetime) -> Outcome:
        day = google.day_of(now)
        if (board.name, day) not in self._spent:
            self._spent.add((board.name, day))
            log.warning(
                "board %s: the daily quota of %d call(s) for %s is used; what waits goes at %s",
                board.name,
                board.daily_quota,
                day,
                google.next_day(now).isoformat(),
            )
        return Outcome(item, None, PENDING, google.next_day(now), count=False)

    def _enable_changed(self, boards: dict[str, Board]) -> None:
        """A board a 403 disabled is called again once its entry or key file changed."""
        current = tuple(boards.values())
        if current == self._configs:
            return
        configs = {name: b.config_digest for name, b in boards.items() if b.kind == GOOGLE}
        enabled = self.database.call(lambda: self.outbox.enable_changed(configs), None)
        if enabled is None:
            return  # the database is away: checked again next time
        # what waits for tomorrow's quota is asked again (a raised daily_quota lets it go today)
        now = self.clock()
        self.database.call(lambda: self.outbox.due_again(list(configs), google.next_day(now), now), 0)
        self._configs = current
        for name in enabled:
            log.info("board %s enabled again: its entry or key file changed since the 403", name)

    def attempt(self, item: Delivery, board: Board) -> str:
        """Send one delivery once and record it; returns the delivery's new state."""
        outcome = self.send(item, board)
        self.outbox.record([outcome], self.clock())
        return outcome.state

    def deliver(self, report: CycleReport | None = None, *, until: threading.Event | None = None) -> CycleReport:
        """Deliver what is due: until nothing is (``syndicate push``, the tests), or, with ``until``, until
        that event is set (the worker process, which ``wake`` tells about new events).

        This thread claims for every board's lane that has room and records what the lanes finished,
        in batches (one transaction each); each lane sends with its own threads, at most
        ``SYNDICATE_DELIVERY_CONCURRENCY`` at once, so a board that hangs holds up only its own lane.
        Recording can make more due (the next version of a posting waits for the one before), so a
        run until idle ends only when a claim after the last record finds nothing. An attempt whose
        lease would run out before its deadline is not sent but given back, so live workers never
        send one delivery twice.
        """
        report = report or CycleReport()
        lanes = Lanes(
            self.settings.delivery_concurrency,
            self._attempt_once,
            send_batch=self._attempt_batch,
            batch_size=lambda board: {INDEXNOW: indexnow.batch_size(), WEBSUB: websub.batch_size()}.get(board.kind, 1),
            lane_width=lambda board: 1 if board.kind == GOOGLE else None,  # in order: closes first, one at a time
        )
        self._lanes = lanes
        forever = until is not None
        claim_now, last_claim, found_nothing = True, float("-inf"), False
        unrecorded: list[Outcome] = []
        try:
            while True:
                stopping = self.stopping.is_set() or (forever and until.is_set())
                if stopping:
                    lanes.drop_waiting()  # what runs finishes (each by its deadline); the rest goes back
                else:
                    lanes.set_boards(self.boards())
                if (
                    not stopping
                    and self.database.usable
                    and (claim_now or time.monotonic() - last_claim >= POLL_SECONDS)
                ):
                    room = lanes.room()
                    claimed = self._claim(room) if room else []
                    last_claim, claim_now, found_nothing = time.monotonic(), False, not claimed
                    lanes.add(claimed)
                busy = lanes.held() > 0 or unrecorded
                finished, unsent, woken = lanes.wait(0.02 if busy else POLL_SECONDS if forever else 0, RECORD_BATCH)
                claim_now = claim_now or woken
                if unsent:
                    self.database.call(lambda unsent=unsent: self.outbox.release_items(unsent, self.clock()), 0)
                    found_nothing = True  # given back: the next round (or another worker) takes them, freshly leased
                unrecorded += finished
                if unrecorded and self._record(unrecorded, lanes):
                    for done in unrecorded:
                        report.attempts += done.attempt is not None  # a delivery left for tomorrow was not sent
                        report.outcomes[done.state] = report.outcomes.get(done.state, 0) + 1
                    unrecorded = []
                    claim_now = True  # what was recorded may have unblocked the next version of a posting
                if lanes.idle() and not unsent:
                    if not self.database.usable and (stopping or not forever):
                        if unrecorded:  # their leases run out, and they are sent again (same webhook id)
                            log.warning("%d attempt(s) could not be recorded: the database is away", len(unrecorded))
                        return report  # a one-shot run (or a stop) does not wait for the database
                    if not unrecorded and (stopping or (not forever and found_nothing and not claim_now)):
                        return report
                    if not self.database.usable:
                        until.wait(POLL_SECONDS)  # type: ignore[union-attr]  (forever: until is set)
        finally:
            lanes.close()

    def _wake_at(self, seconds: float) -> None:
        """Wake the dispatcher when deliveries enqueued not due yet (websub's publish delay) become due,
        rather than at its next poll."""
        at = time.monotonic() + seconds
        with self._wake_lock:
            if any(abs(due - at) < 0.05 for due in self._wake_dues):
                return  # a wake-up that close is planned: it claims everything due by then
            heapq.heappush(self._wake_dues, at)
            self._arm()

    def _arm(self) -> None:
        """One timer thread, for the earliest planned wake-up (called with ``_wake_lock`` held)."""
        if not self._wake_dues or (self._wake_timer is not None and self._wake_timer_at == self._wake_dues[0]):
            return
        if self._wake_timer is not None:
            self._wake_timer.cancel()
        self._wake_timer_at = self._wake_dues[0]
        self._wake_timer = threading.Timer(max(0.0, self._wake_timer_at - time.monotonic()) + 0.01, self._wake_up)
        self._wake_timer.daemon = True
        self._wake_timer.start()

    def _wake_up(self) -> None:
        with self._wake_lock:
            now = time.monotonic()
            while self._wake_dues and self._wake_dues[0] <= now + 0.01:
                heapq.heappop(self._wake_dues)
            self._wake_timer = None
            self._arm()
        self.wake()

    def wake(self) -> None:
        """New deliveries were enqueued: claim them now rather than at the next poll."""
        lanes = self._lanes
        if lanes is not None:
            lanes.wake()

    def _claim(self, room: dict[str, int]) -> list[Delivery]:
        now = self.clock()
        boards = self.boards()
        self._enable_changed(boards)
        first = [name for name, b in boards.items() if b.kind == GOOGLE]
        claimed = self.database.call(
            lambda: self.outbox.claim(now, self.owner, sum(room.values()), self.lease, room, room, first), []
        )
        self._announce_redeliveries(claimed)
        return claimed

    def _announce_redeliveries(self, claimed: list[Delivery]) -> None:
        """One line per ``syndicate redeliver`` run and board, when the first of what it queued again is
        claimed. Queued again, a delivery has no attempts counted but the answer of an earlier one (a 410
        leaves that too, uncounted: such a delivery waited for its board, it was not queued again); one
        run gives every delivery it queues the same ``next_attempt_at``, which names the run."""
        runs: dict[tuple[str, datetime], int] = {}
        for d in claimed:
            answered = d.last_status is not None or d.last_error is not None
            key = (d.board, d.next_attempt_at)
            if d.attempts == 0 and answered and d.last_status != 410 and key not in self._redeliveries:
                runs[key] = runs.get(key, 0) + 1
        for (board, queued_at), count in sorted(runs.items()):
            waiting = self.database.call(lambda b=board, q=queued_at: self._still_queued_again(b, q), 0)
            log.info(
                "redelivering %d delivery(ies) to board %s (queued again at %s)",
                count + waiting,
                board,
                queued_at.isoformat(),
            )
            self._redeliveries[(board, queued_at)] = None
            while len(self._redeliveries) > 256:  # the oldest runs are long done
                del self._redeliveries[next(iter(self._redeliveries))]

    def _still_queued_again(self, board: str, queued_at: datetime) -> int:
        """How many more deliveries of that redeliver run wait (an older version of a posting goes first)."""
        pending = DeliveryLog(self.outbox.store).deliveries(board=board, state=PENDING, limit=100_000)
        return sum(1 for d in pending if d.next_attempt_at == queued_at and d.attempts == 0)

    def _record(self, outcomes: list[Outcome], lanes: Lanes) -> bool:
        """Record outcomes (kept to try again if the database is away: the attempts happened)."""
        done = self.database.call(lambda: self.outbox.record(outcomes, self.clock()) is not None, False)
        if done:
            lanes.recorded(outcomes)
            if any(o.disabled_config for o in outcomes):
                self._configs = None  # a change made while that call was out is checked again
        return done

    def _attempt_once(self, item: Delivery, board: Board) -> Outcome | None:
        """Send unless too little lease is left for the whole attempt (None: not sent); a bug is recorded
        as an attempt."""
        return self._attempt_batch([item], board)[0]

    def _attempt_batch(self, items: list[Delivery], board: Board) -> list[Outcome | None]:
        """``_attempt_once`` for deliveries that go in one call: those with too little lease left are not
        sent (None), the others together."""
        outcomes: dict[int, Outcome | None] = {}
        ready = []
        outcomes.update((o.item.seq, o) for o in self._other_kind(items, board))
        for item in items:
            if item.seq in outcomes:
                continue
            lease_left = (item.lease_until - self.clock()).total_seconds() if item.lease_until else 0
            if lease_left <= self.policy.total_timeout + LEASE_MARGIN or self.stopping.is_set():
                outcomes[item.seq] = None
            else:
                ready.append(item)
        if ready:
            try:
                sent = self.send_many(ready, board)
            except Exception as exc:  # a bug, not a network failure: recorded as a failed attempt, retried later
                log.exception("delivery attempt of %s failed unexpectedly", ready[0].webhook_id)
                sent = [self._internal_failure(item, exc) for item in ready]
            outcomes.update((o.item.seq, o) for o in sent)
        return [outcomes[item.seq] for item in items]

    def _other_kind(self, items: list[Delivery], board: Board) -> list[Outcome]:
        """What becomes of those of ``items`` built for another kind than the board has now: never sent
        in that format. Once a scan recorded the change (the database is the judge: boards.toml may
        have changed back since), they are superseded: left over from before the change, in flight
        when it was scanned. Until then they wait a moment, unsent: that scan drops them, or they go
        as built if the file is changed back first."""
        items = [item for item in items if item.kind is not None and item.kind != board.kind]
        if not items:
            return []
        if self.database.call(lambda: self.outbox.channel_kind(board.name), None) != board.kind:
            retry = self.clock() + timedelta(seconds=POLL_SECONDS)
            return [Outcome(item, None, PENDING, retry, count=False) for item in items]
        log.warning(
            "board %s: %d delivery(ies) built for a %s channel not sent: the board is now %s",
            board.name,
            len(items),
            items[0].kind,
            board.kind,
        )
        return [Outcome(item, None, SUPERSEDED, None, count=False) for item in items]

    def _internal_failure(self, item: Delivery, exc: Exception) -> Outcome:
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
        """Give back the leases of what was not sent (attempts in flight end by their deadline)."""
        self.stopping.set()
        released = self.database.call(lambda: self.outbox.release(self.owner, self.clock()), 0)
        if released:
            log.info("released %d leased deliveries for another run", released)


def _log_failure(items: list[Delivery], board: Board, answer: Answer, state: str) -> None:
    """One line for a failed call, of one delivery or several sent together."""
    more = f" (and {len(items) - 1} more in the same call)" if len(items) > 1 else ""
    log.warning(
        "delivery %s%s to %s: %s %s; next: %s",
        items[0].webhook_id,
        more,
        board.name,
        answer.error_class,
        answer.status or "",
        state,
    )
