"""The worker process: wait for the database (with backoff), migrate it under a lock, then deliver
continuously in one thread (``Worker.deliver(until=...)``, woken by every scan that enqueues) while
APScheduler's ``BlockingScheduler`` schedules the scans (explicit job ids, ``coalesce``): a cheap watch
every ``SYNDICATE_WATCH_INTERVAL`` seconds that scans when files, boards or the expiry epoch changed, a
full scan every ``SYNDICATE_SCAN_INTERVAL`` (the first at once) and a one-off scan at the next
``valid_through``. One scanning job runs at a time: a job that comes due while another scans returns at
once (the one running, or the next watch, sees what it would have seen). While the database is away
the jobs skip their work and the watch checks it with backoff. The first SIGTERM (or SIGINT) lets the
attempts in flight finish (each within its deadline), gives back the rest and exits; a second one exits
at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType

from syndicate.clock import system_clock
from syndicate.push.worker import DEFAULT_BASE_URL, LEASE_MARGIN, Worker
from syndicate.store.database import DATABASE_ERRORS, Database

log = logging.getLogger(__name__)


def run_worker(worker: Worker, database: Database | None = None) -> None:
    """The worker process, until SIGTERM or SIGINT: wait for the database, migrate it, then deliver in
    one thread while APScheduler runs the scans."""
    from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    settings = worker.settings
    database = database or worker.database
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run would drown the log
    # A scan can outlast the watch's interval (the first one over thousands of files, a large pull). The
    # scanning jobs therefore take one lock without waiting, and a run that finds it held returns at once;
    # two instances per job are allowed so that APScheduler starts that short run instead of refusing it
    # ("maximum number of running instances reached"). A second instance never lasts: at most one runs long.
    scheduler = BlockingScheduler(
        executors={"default": JobExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
        timezone="UTC",
    )
    scanning = threading.Lock()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping.is_set():  # a second signal: stop now, as rq's second Ctrl+C does
            log.warning(
                "signal %d again: stopping now; attempts in flight are cut, their leases run out and they are "
                "sent again (same webhook id)",
                signum,
            )
            logging.shutdown()
            os._exit(128 + signum)
        log.info("signal %d: finishing attempts in flight, giving back the rest, then stopping", signum)
        worker.stopping.set()
        if scheduler.running:
            scheduler.shutdown(wait=False)  # the delivery thread ends its attempts in flight, below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s: %d board(s) from %s", worker.owner, len(worker.boards()), settings.boards_path)
    if worker.boards() and not settings.base_url:
        log.warning(
            "SYNDICATE_BASE_URL is not set: webhook payloads link to %s, which boards cannot reach",
            DEFAULT_BASE_URL,
        )
    if not _migrated(worker, database):
        return  # stopped while waiting for the database
    worker.loader.refresh()

    def when_usable(job: Callable[[], None]) -> Callable[[], None]:
        """A scanning job: it skips its work while the database is away (checking it with backoff
        instead), and while another scanning job runs."""

        def run() -> None:
            if worker.stopping.is_set() or not scanning.acquire(blocking=False):
                return
            try:
                if not database.usable and not database.check_due():
                    return
                job()
            except DATABASE_ERRORS as exc:  # logged once by the state change, not once per run
                database.failed(exc)
            finally:
                scanning.release()

        return run

    def schedule_expiry() -> None:
        upcoming = worker.next_expiry()
        if upcoming is not None:
            run_at = upcoming + timedelta(microseconds=1)  # expired means now > valid_through
            scheduler.add_job(scan, "date", run_date=run_at, id="expiry", replace_existing=True)

    def scan_now() -> None:
        if worker.scan():
            worker.wake()  # deliver now, not at the next poll
        schedule_expiry()

    scan = when_usable(scan_now)

    @when_usable
    def watch() -> None:
        if worker.needs_scan():
            scan_now()  # within the watch's turn (``scan`` would find the lock held, by this very job)

    def stop_check() -> None:
        """A signal that came while the scheduler was starting could not shut it down: this does."""
        if worker.stopping.is_set():
            scheduler.shutdown(wait=False)

    scheduler.add_job(stop_check, "interval", seconds=1, id="stop-check")
    scheduler.add_job(watch, "interval", seconds=settings.watch_interval, id="watch")
    scheduler.add_job(scan, "interval", seconds=settings.scan_interval, id="scan", next_run_time=system_clock())
    delivery = threading.Thread(target=worker.deliver, kwargs={"until": worker.stopping}, name="dispatch")
    delivery.start()
    try:
        if not worker.stopping.is_set():
            scheduler.start()
    finally:
        worker.stopping.set()
        delivery.join(settings.delivery_timeout + LEASE_MARGIN)  # every attempt ends by its deadline
        worker.stop()


def _migrated(worker: Worker, database: Database) -> bool:
    """Migrate the database under its lock, waiting for it meanwhile (trying again with backoff, logging
    once per change of state); False when the worker was told to stop first."""
    while not worker.stopping.is_set():
        try:
            worker.outbox.store.migrate()
        except DATABASE_ERRORS as exc:
            database.failed(exc)
            worker.stopping.wait(database.seconds_to_next_check())
            continue
        if database.check():
            return True
        worker.stopping.wait(database.seconds_to_next_check())
    return False
