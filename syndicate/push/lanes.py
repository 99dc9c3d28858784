"""One lane per board: its claimed deliveries, its own sending threads, at most ``width`` in flight.

A lane may send what waits in it in one call, when its board's channel takes several at once (an
IndexNow board: up to 10,000 URLs a call); a webhook board's lane sends one delivery per call.

A board that hangs fills only its own lane: its threads wait (each at most one
attempt's deadline) while every other board's lane keeps sending. The
dispatching thread (``Worker.deliver``) claims for lanes with room and records
what they finished; lanes never touch the database.

A lane whose board answered 410 Gone starts nothing more: what it still holds
goes back unsent at once, and nothing is added until the board's disabled
state is recorded (from then on claims skip the board).

One lock guards every lane; the dispatcher and each lane wait on conditions of
their own, so a finished attempt wakes the dispatcher only when there is
something for it to do, and new deliveries wake only their lane's threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from syndicate.push.boards import Board
from syndicate.store.records import Delivery, Outcome

# Sends one delivery once: its outcome, or None when it was not sent (too little lease left, stopping).
Sender = Callable[[Delivery, Board], Outcome | None]
# Sends several deliveries of one board in one call (an IndexNow board): one outcome (or None) each.
BatchSender = Callable[[list[Delivery], Board], list[Outcome | None]]
IDLE_THREAD_SECONDS = 5.0  # a lane thread with nothing to send for this long ends (a new one starts with work)
WAKE_EVERY = 32  # finished outcomes that wake the dispatcher to record them, while lanes are busy


class Lanes:
    """Every board's lane, and what they finished."""

    def __init__(
        self,
        width: int,
        send: Sender,
        window: int = 256,
        send_batch: BatchSender | None = None,
        batch_size: Callable[[Board], int] | None = None,
        lane_width: Callable[[Board], int | None] | None = None,
    ) -> None:
        self.width = width
        self.window = window  # deliveries held in all lanes at most, so claims come in batches
        self.send = send
        self.send_batch = send_batch
        self.batch_size = batch_size or (lambda _board: 1)  # how many waiting deliveries one call may take
        self.lane_width = lane_width or (lambda _board: None)  # a board's own width (None: ``width``)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)  # the dispatcher waits on this one
        self._lanes: dict[str, _Lane] = {}
        self._finished: list[Outcome] = []
        self._unsent: list[Delivery] = []
        self._woken = False
        self._closed = False

    # --- the dispatcher's side -----------------------------------------------------------------------

    def set_boards(self, boards: dict[str, Board]) -> None:
        """Open a lane per new board, update changed ones, close lanes of boards that left (their waiting
        deliveries go back unsent; attempts in flight finish)."""
        with self.lock:
            for name, board in boards.items():
                lane = self._lanes.get(name)
                if lane is None:
                    self._lanes[name] = _Lane(self, board)
                elif lane.board is not board:
                    lane.board = board
            for name in [n for n in self._lanes if n not in boards]:
                self._unsent.extend(self._lanes.pop(name).close())

    def room(self) -> dict[str, int]:
        """How many more deliveries each board's lane takes: its share of the window, and at least two
        rounds of its width, so it never idles between claims and claims come in batches."""
        with self.lock:
            target = self._target()
            rooms = {name: lane.room(target) for name, lane in self._lanes.items()}
            return {name: room for name, room in rooms.items() if room > 0}

    def add(self, items: Iterable[Delivery]) -> None:
        with self.lock:
            for item in items:
                lane = self._lanes.get(item.board)
                if lane is None or lane.gone or lane.closed:
                    self._unsent.append(item)  # the board left (or answered 410) between the claim and now
                else:
                    lane.waiting.append(item)
            for lane in self._lanes.values():
                if lane.waiting:
                    lane.start_threads()
                    lane.cond.notify(len(lane.waiting))

    def held(self) -> int:
        with self.lock:
            return sum(len(lane.waiting) + lane.running for lane in self._lanes.values())

    def drop_waiting(self) -> None:
        """Stopping: what has not started goes back."""
        with self.lock:
            for lane in self._lanes.values():
                self._unsent.extend(lane.waiting)
                lane.waiting.clear()

    def recorded(self, outcomes: Iterable[Outcome]) -> None:
        """The outcomes are in the database: a board whose 410 is recorded is skipped by claims now."""
        with self.lock:
            for outcome in outcomes:
                lane = self._lanes.get(outcome.item.board)
                if outcome.disable_reason and lane is not None:
                    lane.gone = False
                if lane is not None and lane.unrecorded:
                    lane.unrecorded -= 1
                    lane.cond.notify()

    def wake(self) -> None:
        """Something new is due (a scan enqueued): the dispatcher claims at once."""
        with self.lock:
            self._woken = True
            self.cond.notify()

    def wait(self, timeout: float, batch: int) -> tuple[list[Outcome], list[Delivery], bool]:
        """Up to ``timeout`` seconds for a batch of outcomes, a wake-up (new events, or a lane that ran
        down to half its share: time to claim), unsent deliveries, or every lane idle; returns
        (finished, unsent, woken)."""
        with self.lock:
            self.cond.wait_for(
                lambda: (
                    self._woken
                    or len(self._finished) >= batch
                    or bool(self._unsent)
                    or (bool(self._finished) and not self._busy())
                ),
                timeout,
            )
            return self._take()

    def idle(self) -> bool:
        """Nothing waits, runs, or waits to be collected (an outcome not yet taken is not idle)."""
        with self.lock:
            waiting = any(lane.waiting for lane in self._lanes.values())
            return not self._busy() and not waiting and not self._finished and not self._unsent

    def close(self) -> None:
        with self.lock:
            self._closed = True
            for lane in self._lanes.values():
                lane.cond.notify_all()

    def _take(self) -> tuple[list[Outcome], list[Delivery], bool]:
        finished, self._finished = self._finished, []
        unsent, self._unsent = self._unsent, []
        woken, self._woken = self._woken, False
        return finished, unsent, woken

    def _busy(self) -> bool:
        return any(lane.running for lane in self._lanes.values())

    def _target(self) -> int:
        return max(2 * self.width, self.window // max(1, len(self._lanes)))

    def _finish(self, lane: _Lane, item: Delivery, outcome: Outcome | None) -> None:
        """A lane thread is done with ``item`` (called with the lock held)."""
        lane.running -= 1
        if outcome is None:
            self._unsent.append(item)
            self.cond.notify()
            return
        self._finished.append(outcome)
        if outcome.disable_reason:  # 410: what waits goes back, nothing more starts
            lane.gone = True
            self._unsent.extend(lane.waiting)
            lane.waiting.clear()
        held = len(lane.waiting) + lane.running
        if held == self._target() // 2:
            self._woken = True  # down to half its share: claiming more now keeps the lane busy
        if self.lane_width(lane.board) == 1:
            # a lane that sends one at a time sends the next once this one is recorded: a kill repeats one call
            lane.unrecorded += 1
            self._woken = True
        if self._woken or outcome.disable_reason or not held or len(self._finished) % WAKE_EVERY == 0:
            self.cond.notify()


class _Lane:
    """One board's waiting deliveries and the threads sending them (guarded by the lanes' lock)."""

    def __init__(self, lanes: Lanes, board: Board) -> None:
        self.lanes = lanes
        self.board = board
        self.cond = threading.Condition(lanes.lock)  # this lane's threads wait on this one
        self.waiting: deque[Delivery] = deque()
        self.running = 0
        self.threads: list[threading.Thread] = []
        self.gone = False  # answered 410: nothing more starts until that is recorded
        self.unrecorded = 0  # a one-at-a-time lane's outcomes not yet in the database
        self.closed = False

    def room(self, target: int) -> int:
        if self.gone or self.closed:
            return 0
        return max(0, target - len(self.waiting) - self.running)

    def start_threads(self) -> None:
        width = self.lanes.lane_width(self.board) or self.lanes.width
        wanted = min(width, len(self.waiting) + self.running)
        self.threads = [t for t in self.threads if t.is_alive()]
        while len(self.threads) < wanted:
            thread = threading.Thread(target=self._run, name=f"deliver-{self.board.name}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self) -> list[Delivery]:
        self.closed = True
        left = list(self.waiting)
        self.waiting.clear()
        self.cond.notify_all()
        return left

    def _run(self) -> None:
        lanes = self.lanes
        while True:
            with lanes.lock:
                while (not self.waiting or self.unrecorded) and not (self.closed or lanes._closed):
                    if not self.cond.wait(timeout=IDLE_THREAD_SECONDS) and not self.waiting and not self.unrecorded:
                        self.threads = [t for t in self.threads if t is not threading.current_thread()]
                        return  # idle for a while: the thread ends, a new one starts with new work
                if self.closed or lanes._closed:
                    return
                board = self.board
                size = max(1, lanes.batch_size(board)) if lanes.send_batch is not None else 1
                items = [self.waiting.popleft() for _ in range(min(size, len(self.waiting)))]
                self.running += len(items)
            outcomes: list[Outcome | None] = [None] * len(items)
            try:
                # what waited for this board goes out in one call when its channel takes several
                one = len(items) == 1 or lanes.send_batch is None
                outcomes = [lanes.send(items[0], board)] if one else lanes.send_batch(items, board)  # type: ignore[misc]
            finally:
                with lanes.lock:
                    for item, outcome in zip(items, outcomes, strict=True):
                        lanes._finish(self, item, outcome)
