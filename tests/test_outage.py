"""The database goes away and comes back, as real processes see it: gunicorn and the worker keep going.

PostgreSQL is reached through a TCP proxy the test cuts (every connection
dropped, new ones refused) and restores; the machine's PostgreSQL itself is
never stopped.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import migrate, posting_text, write
from faults import TcpProxy
from processes import Web, WorkerProcess, get, service_env, wait_for

from bench.sink import DEMO_SECRET, Sink

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(postgresql_url: str) -> Iterator[TcpProxy]:
    url = sa.make_url(postgresql_url)
    server = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield server
    server.close()


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` reaching its database through ``proxy``."""
    return sa.make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def env(tmp_path: Path, postings: Path, database_url: str, **more: str) -> dict[str, str]:
    settings = {
        "SYNDICATE_RELOAD_INTERVAL": "0.2",
        "SYNDICATE_DATABASE_TIMEOUT": "1",
        "SYNDICATE_BOARDS": str(tmp_path / "no-boards.toml"),
    }
    return service_env(tmp_path, postings, database_url, **(settings | more))


def posted(web: Web, posting_id: str) -> set[str | None]:
    """The date_posted every worker gives the posting (None: a worker does not serve it)."""
    return {
        answer.json()["date_posted"] if answer.status_code == 200 else None
        for answer in web.each_worker(f"/api/postings/{posting_id}")
    }


def test_the_web_serves_boots_and_dates_alike_while_the_database_is_away(
    tmp_path: Path, postings_dir: Path, postgresql_url: str, proxy: TcpProxy
) -> None:
    write(postings_dir, "dated.md", posting_text("dated", date_posted="2026-11-02"))
    write(postings_dir, "undated.md", posting_text("undated", title="First Seen Role"))
    migrate(postgresql_url)  # the release step
    web = Web(env(tmp_path, postings_dir, through(postgresql_url, proxy)), tmp_path / "web.log")
    try:
        assert wait_for(lambda: web.all_healthy(status="ok", database=True), 20), web.output()
        first_seen = posted(web, "undated")
        feed = get(f"{web.base}/feed.atom")
        assert len(first_seen) == 1 and None not in first_seen and feed is not None and feed.status_code == 200

        proxy.cut()
        assert wait_for(lambda: web.all_healthy(status="degraded", database=False), 20), web.output()
        # a worker that restarts now (a crash, a timeout, kill -9) boots without the database
        before = web.workers()
        os.kill(sorted(before)[0], signal.SIGKILL)
        assert wait_for(lambda: len(web.workers() - before) == 1 and len(web.workers()) == 2, 30), web.output()
        assert web.process.poll() is None, "the master is still up: " + web.output()
        assert wait_for(lambda: web.all_healthy(status="degraded", database=False), 20), web.output()
        for answer in web.each_worker("/feed.atom"):  # the new worker too serves every output
            assert answer.status_code == 200 and b"First Seen Role" in answer.content
        assert posted(web, "undated") == first_seen, "a date served before the outage does not move"

        write(postings_dir, "newcomer.md", posting_text("newcomer", title="Arrived During The Outage"))
        assert wait_for(lambda: None not in posted(web, "newcomer"), 20), web.output()
        dated_while_away = posted(web, "newcomer")
        assert len(dated_while_away) == 1, "every worker of the machine gives it the same date"

        proxy.restore()
        assert wait_for(lambda: web.all_healthy(status="ok", database=True), 30), web.output()
        assert posted(web, "newcomer") == dated_while_away, "caught up without moving"
        assert posted(web, "undated") == first_seen
        engine = sa.create_engine(postgresql_url)
        with engine.connect() as conn:
            recorded = conn.execute(sa.text("SELECT first_seen FROM posting_state WHERE id = 'newcomer'")).scalar()
        engine.dispose()
        assert recorded is not None, "the date given while away is recorded once the database is back"
        assert recorded.strftime("%Y-%m-%dT%H:%M:%SZ") == dated_while_away.pop()
    finally:
        web.stop()
    assert web.process.returncode == 0


def test_a_web_process_started_while_the_database_is_away_serves_and_says_so(
    tmp_path: Path, postings_dir: Path, postgresql_url: str, proxy: TcpProxy
) -> None:
    write(postings_dir, "a.md", posting_text("a", title="Served Without A Database", date_posted="2026-11-02"))
    migrate(postgresql_url)
    proxy.cut()
    web = Web(env(tmp_path, postings_dir, through(postgresql_url, proxy)), tmp_path / "web.log")
    try:
        body = web.health()
        assert body is not None and (body["status"], body["database"]) == ("degraded", False), body
        assert "database_error" in body
        for path in ("/", "/feed.rss", "/feed.atom", "/feed.json", "/feeds/indeed.xml", "/sitemap.xml", "/jobs/a"):
            answer = get(web.base + path)
            assert answer is not None and answer.status_code == 200, path
        assert b"Served Without A Database" in get(f"{web.base}/feed.atom").content
        metrics = get(f"{web.base}/metrics")
        assert metrics is not None and metrics.status_code == 200
        proxy.restore()
        assert wait_for(lambda: web.all_healthy(status="ok", database=True), 30), web.output()
    finally:
        web.stop()
    warnings = [line for line in web.output().splitlines() if "database not usable" in line]
    assert 1 <= len(warnings) <= 2, "once per worker and change of state, not once per try:\n" + "\n".join(warnings)
    assert "Traceback" not in web.output()


def test_a_web_process_only_checks_the_schema_and_names_the_migration(
    tmp_path: Path, postings_dir: Path, postgresql_url: str
) -> None:
    write(postings_dir, "a.md", posting_text("a", date_posted="2026-11-02"))
    web = Web(env(tmp_path, postings_dir, postgresql_url), tmp_path / "web.log")  # never migrated
    try:
        body = web.health()
        assert body is not None and body["status"] == "degraded" and body["database"] is False
        assert body["schema"] == "unknown" or "run `syndicate migrate`" in body["database_error"]
        assert get(f"{web.base}/feed.atom").status_code == 200
        engine = sa.create_engine(postgresql_url)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert "posting_state" not in tables, "a web process does not migrate"
        migrate(postgresql_url)
        assert wait_for(lambda: web.all_healthy(status="ok", database=True, schema="current"), 30), web.output()
    finally:
        web.stop()


def test_a_database_that_hangs_never_holds_up_a_request_and_healthz_says_so(
    tmp_path: Path, postings_dir: Path, postgresql_url: str, proxy: TcpProxy
) -> None:
    """A server that accepts connections and answers nothing. Requests are answered from what the
    refresher published; the refresher's own calls give up within the database timeout, so it carries
    on without it and /healthz says degraded."""
    import time

    write(postings_dir, "a.md", posting_text("a", title="Still Served", date_posted="2026-11-02"))
    migrate(postgresql_url)
    web = Web(env(tmp_path, postings_dir, through(postgresql_url, proxy)), tmp_path / "web.log")
    try:
        assert wait_for(lambda: web.all_healthy(status="ok", database=True), 20), web.output()
        proxy.hold()
        write(postings_dir, "b.md", posting_text("b", title="Added While It Hangs"))  # a reload asks the database
        slowest = 0.0
        deadline = time.monotonic() + 15
        stalled = False
        while time.monotonic() < deadline and not stalled:
            for path in ("/healthz", "/feed.atom"):
                started = time.monotonic()
                answer = get(web.base + path, timeout=5)
                slowest = max(slowest, time.monotonic() - started)
                assert answer is not None and answer.status_code == 200, path
            stalled = web.all_healthy(status="degraded", database=False)
            time.sleep(0.2)
        assert stalled, "every worker says the database is away: " + str(web.health())
        assert slowest < 1.0, f"a request waited {slowest:.2f} s on a database that hangs"
        assert wait_for(lambda: b"Added While It Hangs" in get(f"{web.base}/feed.atom").content, 20)
        proxy.release()
        assert wait_for(lambda: web.all_healthy(status="ok", database=True), 60), web.output()
        assert wait_for(lambda: b"Added While It Hangs" in get(f"{web.base}/feed.atom").content, 20)
    finally:
        proxy.release()
        web.stop()


# --- the worker -----------------------------------------------------------------------------------------


def test_the_worker_waits_for_the_database_then_delivers(
    tmp_path: Path, postings_dir: Path, postgresql_url: str, proxy: TcpProxy, sink: Sink
) -> None:
    write(postings_dir, "a.md", posting_text("a", title="Owed Before"))
    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    proxy.cut()  # away before the worker starts: it has never seen the schema either
    settings = env(
        tmp_path,
        postings_dir,
        through(postgresql_url, proxy),
        SYNDICATE_BOARDS=str(boards),
        SYNDICATE_WATCH_INTERVAL="0.1",
        SYNDICATE_BASE_URL="https://jobs.example",
    )
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        assert not wait_for(lambda: worker.process.poll() is not None, 4), "it waits: " + worker.output()
        proxy.restore()
        assert wait_for(lambda: len(sink.events) == 1, 30), worker.output()
        proxy.cut()  # and away again while it runs: an edit meanwhile is delivered once it is back
        write(postings_dir, "a.md", posting_text("a", title="Edited While Away"))
        assert not wait_for(lambda: len(sink.events) > 1, 3)
        assert worker.process.poll() is None, worker.output()
        proxy.restore()
        assert wait_for(lambda: len(sink.events) == 2, 30), worker.output()
        assert sink.events[1]["payload"]["data"]["posting"]["title"] == "Edited While Away"
    finally:
        code, _ = worker.stop()
    log = worker.output()
    assert code == 0, log
    assert "Traceback" not in log, log
    away = [line for line in log.splitlines() if "database not usable" in line]
    back = [line for line in log.splitlines() if "database usable again" in line]
    assert len(away) == 2 and len(back) == 2, "one line per change of state:\n" + log
    assert not re.search(r"maximum number of running instances", log)
