"""One lane per board: its claimed deliveries, its own sending threads, at most ``width`` in flight.

A board that hangs fills only its own lane: its threads wait (each at most one
attempt's deadline) while every other board's lane keeps sending. The
dispatching thread (``Worker.deliver``) claims for lanes with room and records
what they finished; lanes never touch the database.

A lane whose board answered 410 Gone starts nothing more: what it still holds
goes back unsent at once, and nothing is added until the board's disabled
state is recorded (from then on claims skip the board).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from .boards import Board
from .outbox import Delivery, Outcome

# Sends one delivery once: its outcome, or None when it was not sent (too little lease left, stopping).
Sender = Callable[[Delivery, Board], Outcome | None]


class Lanes:
    """Every board's lane, and what they finished, under one condition the dispatcher waits on."""

    def __init__(self, width: int, send: Sender) -> None:
        self.width = width
        self.send = send
        self.cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._finished: list[Outcome] = []
        self._unsent: list[Delivery] = []
        self._woken = False
        self._closed = False

    # --- the dispatcher's side -----------------------------------------------------------------------

    def set_boards(self, boards: dict[str, Board]) -> None:
        """Open a lane per new board, update changed ones, close lanes of boards that left (their waiting
        deliveries go back unsent; attempts in flight finish)."""
        with self.cond:
            for name, board in boards.items():
                lane = self._lanes.get(name)
                if lane is None:
                    self._lanes[name] = _Lane(self, board)
                else:
                    lane.board = board
            for name in [n for n in self._lanes if n not in boards]:
                self._unsent.extend(self._lanes.pop(name).close())
            self.cond.notify_all()

    def room(self) -> dict[str, int]:
        """How many more deliveries each board's lane takes (two rounds of its width, so it never idles
        between claims)."""
        with self.cond:
            return {name: lane.room() for name, lane in self._lanes.items() if lane.room() > 0}

    def add(self, items: Iterable[Delivery]) -> None:
        with self.cond:
            for item in items:
                lane = self._lanes.get(item.board)
                if lane is None or lane.gone:
                    self._unsent.append(item)  # the board left (or answered 410) between the claim and now
                else:
                    lane.waiting.append(item)
                    lane.start_threads()
            self.cond.notify_all()

    def held(self) -> int:
        with self.cond:
            return sum(len(lane.waiting) + lane.running for lane in self._lanes.values())

    def drop_waiting(self) -> None:
        """Stopping: what has not started goes back."""
        with self.cond:
            for lane in self._lanes.values():
                self._unsent.extend(lane.waiting)
                lane.waiting.clear()
            self.cond.notify_all()

    def recorded(self, outcomes: Iterable[Outcome]) -> None:
        """The outcomes are in the database: a board whose 410 is recorded is skipped by claims now."""
        with self.cond:
            for outcome in outcomes:
                lane = self._lanes.get(outcome.item.board)
                if outcome.disable_reason and lane is not None:
                    lane.gone = False

    def wake(self) -> None:
        """Something new is due (a scan enqueued): the dispatcher claims at once."""
        with self.cond:
            self._woken = True
            self.cond.notify_all()

    def wait(self, timeout: float, batch: int) -> tuple[list[Outcome], list[Delivery], bool]:
        """Up to ``timeout`` seconds for a batch of outcomes, a wake-up, or every lane idle;
        returns (finished, unsent, woken)."""
        with self.cond:
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

    def take(self) -> tuple[list[Outcome], list[Delivery], bool]:
        with self.cond:
            return self._take()

    def idle(self) -> bool:
        """Nothing waits, runs, or waits to be collected (an outcome not yet taken is not idle)."""
        with self.cond:
            waiting = any(lane.waiting for lane in self._lanes.values())
            return not self._busy() and not waiting and not self._finished and not self._unsent

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self.cond.notify_all()

    def _take(self) -> tuple[list[Outcome], list[Delivery], bool]:
        finished, self._finished = self._finished, []
        unsent, self._unsent = self._unsent, []
        woken, self._woken = self._woken, False
        return finished, unsent, woken

    def _busy(self) -> bool:
        return any(lane.running for lane in self._lanes.values())


class _Lane:
    """One board's waiting deliveries and the threads sending them (guarded by the lanes' condition)."""

    def __init__(self, lanes: Lanes, board: Board) -> None:
        self.lanes = lanes
        self.board = board
        self.waiting: deque[Delivery] = deque()
        self.running = 0
        self.threads: list[threading.Thread] = []
        self.gone = False  # answered 410: nothing more starts until that is recorded
        self.closed = False

    def room(self) -> int:
        if self.gone or self.closed:
            return 0
        return max(0, 2 * self.lanes.width - len(self.waiting) - self.running)

    def start_threads(self) -> None:
        wanted = min(self.lanes.width, len(self.waiting) + self.running)
        self.threads = [t for t in self.threads if t.is_alive()]
        while len(self.threads) < wanted:
            thread = threading.Thread(target=self._run, name=f"deliver-{self.board.name}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self) -> list[Delivery]:
        self.closed = True
        left = list(self.waiting)
        self.waiting.clear()
        return left

    def _run(self) -> None:
        cond = self.lanes.cond
        while True:
            with cond:
                while not self.waiting and not (self.closed or self.lanes._closed):
                    if not cond.wait(timeout=5.0) and not self.waiting:
                        self.threads = [t for t in self.threads if t is not threading.current_thread()]
                        return  # idle for a while: the thread ends, a new one starts with new work
                if self.closed or self.lanes._closed:
                    return
                item = self.waiting.popleft()
                self.running += 1
                board = self.board
            outcome = None
            try:
                outcome = self.lanes.send(item, board)
            finally:
                with cond:
                    self.running -= 1
                    if outcome is None:
                        self.lanes._unsent.append(item)
                    else:
                        self.lanes._finished.append(outcome)
                        if outcome.disable_reason:  # 410: what waits goes back, nothing more starts
                            self.gone = True
                            self.lanes._unsent.extend(self.waiting)
                            self.waiting.clear()
                    cond.notify_all()
