"""What a web process keeps between requests, and the thread that keeps it current.

Requests only read: the published ``Catalog`` (the current snapshot with its
Last-Modified), the render cache, the database's last known state and the
delivery figures. Everything that reads files or waits on the database happens
in one background thread per process (``Refresher``): it reloads the postings
folder every ``SYNDICATE_RELOAD_INTERVAL``, records a new snapshot's version,
checks the database (with backoff while it is away, catching up when it is
back) and refreshes the delivery figures. A request never waits for a reload,
a parse or a connection: it is answered from what was published last.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from syndicate.outputs.catalog import Catalog
from syndicate.outputs.render import Site
from syndicate.postings.snapshot import Snapshot
from syndicate.store.dates import Dates
from syndicate.web.hosts import CachedHosts
from syndicate.web.httpcache import RenderCache

log = logging.getLogger(__name__)
FIRST_ROUND_WAIT = 0.25  # seconds a process's first request waits for its refresher's first round
STALE_NAMED = 100  # stale files named in /healthz; the count is always whole

DATABASE_CHECK_EVERY = 5.0  # seconds between checks of a database that is usable (away: with backoff)
SHORTEST_PAUSE = 0.01  # an interval of 0 reloads continuously, but lets the process breathe


class WebState:
    """The catalog of the current snapshot, the render cache, and the refresher that keeps them."""

    def __init__(self, svc) -> None:  # type: ignore[no-untyped-def]  (Services; no import cycle)
        settings = svc.settings
        self.svc = svc
        self.site = Site.from_settings(settings)
        self.base_url = settings.base_url
        self.max_age = settings.cache_max_age
        self.cache = RenderCache(settings.render_cache_mb * 1024 * 1024)
        self.cached_hosts = CachedHosts(settings.cached_hosts)
        self.allowed_hosts = settings.allowed_hosts
        self.interval = max(settings.reload_interval, SHORTEST_PAUSE)
        # a round without the database takes a few of its timeouts at most; far longer is a stall
        self.stalled_after = 10 * settings.database_timeout + self.interval
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()  # one refresh at a time (the thread, or a test calling refresh())
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pid = 0
        self._last_database_check = float("-inf")
        self._last_figures = float("-inf")
        self._refreshed_at = time.monotonic()
        svc.database.on_recovery(self._record_version)

    @property
    def catalog(self) -> Catalog:
        """The published catalog; there always is one once the app is built."""
        catalog = self._catalog
        if catalog is None:
            raise RuntimeError("no catalog published yet")
        return catalog

    @property
    def ready(self) -> bool:
        return self._catalog is not None

    # --- the refresher ------------------------------------------------------------------------------

    def refresh(self) -> Catalog:
        """One round of the refresher: database check when due, folder reload, catalog, figures."""
        with self._lock:
            svc = self.svc
            now = time.monotonic()
            if now - self._last_database_check >= DATABASE_CHECK_EVERY or not svc.database.usable:
                self._last_database_check = now
                svc.database.check_due()  # runs the catch-up when the database is back
            try:
                snapshot = svc.loader.refresh()
            except Exception:  # a bug must not stop the thread: keep serving what is published
                log.exception("reloading the postings failed; still serving the last snapshot")
                snapshot = svc.loader.snapshot
            current = self._catalog
            if current is None or current.snapshot is not snapshot:
                self._catalog = self._catalog_of(snapshot, current)
            if now - self._last_figures >= DATABASE_CHECK_EVERY:
                self._last_figures = now
                svc.deliveries.refresh()
            self._refreshed_at = time.monotonic()
            return self._catalog

    def _catalog_of(self, snapshot: Snapshot, current: Catalog | None) -> Catalog:
        if current is not None and current.version == snapshot.version:
            return Catalog(snapshot, current.changed_at)
        dates: Dates = self.svc.dates
        changed_at = dates.version_seen(snapshot.version, snapshot.loaded_at, current.changed_at if current else None)
        return Catalog(snapshot, changed_at)

    def _record_version(self) -> None:
        """The database is back: the version served meanwhile is recorded with the time it was served."""
        catalog = self._catalog
        if catalog is not None:
            self.svc.store.version_seen(catalog.version, catalog.changed_at)

    def ensure_running(self) -> None:
        """Start this process's refresher thread (after a fork the parent's thread is not here). Its
        first round runs at once, and the first request waits for it, up to ``FIRST_ROUND_WAIT``: a
        process that served nothing since it started would otherwise answer from the files as they
        were at boot (a WebSub hub fetching a feed right after a change would get the old one), and a
        round that hangs still holds no request for longer than that."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid = os.getpid()
            self._refreshed_at = time.monotonic()  # a stall is counted from the thread's start
            first_round = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(first_round,), name="syndicate-refresher", daemon=True
            )
            self._thread.start()
        first_round.wait(FIRST_ROUND_WAIT)

    def stop(self) -> None:
        """End the refresher thread after its current round (for tests and embedding)."""
        self._stopping.set()

    def _run(self, first_round: threading.Event) -> None:
        wait = 0.0  # the first round at once
        while not self._stopping.wait(wait):
            try:
                self.refresh()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("refreshing the web state failed")
            first_round.set()
            wait = self.interval

    # --- what requests read -------------------------------------------------------------------------

    def health(self, now: datetime) -> tuple[int, dict[str, object]]:
        """(status code, body) of /healthz: 200 while serving (``ok``, or ``degraded`` and why)."""
        svc = self.svc
        database = svc.database.status()
        catalog = self._catalog
        snapshot = catalog.snapshot if catalog else svc.loader.snapshot
        provisional = len(svc.dates.provisional)
        thread = self._thread
        stalled = time.monotonic() - self._refreshed_at
        stalled = stalled if thread is not None and thread.is_alive() and stalled > self.stalled_after else 0
        stale = snapshot.stale
        degraded = not database["database"] or provisional or stalled or stale
        body: dict[str, object] = {
            "status": "unavailable" if catalog is None else "degraded" if degraded else "ok",
            "process": os.getpid(),  # which worker answered: each checks and reloads on its own
            **database,
            "postings": {
                "version": snapshot.version,
                "loaded": len(snapshot.postings),
                "open": len(snapshot.open_postings(now)),
                "rejected_files": len(svc.loader.rejected_files()),
                # broken files still serving the posting they last read as: fix them (lint names why)
                **({"stale_files": list(stale[:STALE_NAMED]), "stale": len(stale)} if stale else {}),
                "loaded_at": snapshot.loaded_at.replace(microsecond=0).isoformat(),  # whole seconds, as every output
                **({"provisional_dates": provisional} if provisional else {}),
            },
            # a refresher stuck (a database that accepts connections but never answers): say it, do not guess
            **({"refresher_stalled_seconds": round(stalled)} if stalled else {}),
        }
        return (200 if catalog is not None else 503), body
