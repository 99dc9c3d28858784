"""The IndexNow channel end to end: a real fake IndexNow endpoint that checks every call's JSON and, as
the real ones do, fetches ``keyLocation`` from the running web process (real gunicorn) to see the key.

The worker runs in the test with a clock the test moves (``test_push.Harness``); the web and the
operator commands are real processes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import posting_text, write
from processes import Web, WorkerProcess, run_cli, service_env, wait_for
from prometheus_client import generate_latest
from test_push import Harness, board_toml
from test_push_docs import documented_request, shown_and_sent_headers_agree

from bench.fake_indexnow import IndexNowEndpoint
from bench.sink import DEMO_SECRET, Sink
from syndicate.push.boards import parse_boards
from syndicate.store.log import DeliveryLog
from syndicate.store.records import PENDING, SUCCEEDED, SUPERSEDED, Attempt, Outcome

KEY = "5e0c2a0f-9b7d-4c1e-a3f8-indexnow0key"
OTHER_KEY = "another-key-0123456789"
DOCUMENTED_SITE = "http://127.0.0.1:33351"  # where the web answered when docs/push.md's example was captured


@pytest.fixture
def endpoint() -> Iterator[IndexNowEndpoint]:
    server = IndexNowEndpoint()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def h(tmp_path: Path, database_url: str, postings_dir: Path, sink: Sink) -> Iterator[Harness]:
    harness = Harness(tmp_path, database_url, postings_dir, sink)
    yield harness
    harness.close()


@pytest.fixture
def web(h: Harness) -> Iterator[Web]:
    """gunicorn over the harness's postings and boards file (where it finds the keys to serve)."""
    h.boards()  # the file exists before the web reads it (empty: no boards yet)
    env = service_env(h.tmp_path, h.postings, h.database_url, SYNDICATE_BOARDS=str(h.boards_path))
    server = Web(env, h.tmp_path / "web.log", workers=1)
    yield server
    server.stop()


def indexnow_toml(name: str, endpoint: str, **keys: str) -> str:
    lines = ["[[boards]]", f'name = "{name}"', 'kind = "indexnow"', f'endpoint = "{endpoint}"']
    lines += [f'{k} = "{v}"' for k, v in (keys or {"key": KEY}).items()]
    return "\n".join(lines) + "\n"


def cli_env(h: Harness, web: Web) -> dict[str, str]:
    return service_env(
        h.tmp_path,
        h.postings,
        h.database_url,
        SYNDICATE_BOARDS=str(h.boards_path),
        SYNDICATE_BASE_URL=web.base,
        SYNDICATE_RETRY_SCHEDULE=h.schedule,
    )


def test_the_key_is_served_as_text_and_follows_the_boards_file(h: Harness, web: Web) -> None:
    assert requests.get(f"{web.base}/{KEY}.txt", timeout=5).status_code == 404, "no indexnow board yet"
    h.boards(indexnow_toml("ix", "https://api.indexnow.org/indexnow"))
    served = requests.get(f"{web.base}/{KEY}.txt", timeout=5)
    assert served.status_code == 200 and served.text == KEY
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert requests.get(f"{web.base}/{OTHER_KEY}.txt", timeout=5).status_code == 404
    assert requests.get(f"{web.base}/robots.txt", timeout=5).text.startswith("User-agent")
    h.boards(indexnow_toml("ix", "https://api.indexnow.org/indexnow", key=OTHER_KEY))  # a new key: re-read
    assert requests.get(f"{web.base}/{OTHER_KEY}.txt", timeout=5).text == OTHER_KEY
    assert requests.get(f"{web.base}/{KEY}.txt", timeout=5).status_code == 404


def test_backfill_edit_close_expiry_delete_and_draft_each_send_the_page(
    h: Harness, web: Web, endpoint: IndexNowEndpoint
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b", title="Designer"))
    expiring = (h.clock() + timedelta(days=1)).isoformat()
    write(h.postings, "e.md", posting_text("e", title="Tester", valid_through=expiring))
    write(h.postings, "c.md", posting_text("c", status="closed"))
    write(h.postings, "d.md", posting_text("d", status="draft"))
    h.boards(indexnow_toml("ix", endpoint.url))
    worker = h.worker(base_url=web.base)
    report = worker.cycle()
    assert report.outcomes == {SUCCEEDED: 3}
    sitemap = f"{web.base}/sitemap.xml"
    pages = [f"{web.base}/jobs/{p}" for p in ("a", "b", "e")]
    assert endpoint.urls() == [[*pages, sitemap]], "what is due goes in one call, each URL once"
    logged = worker.outbox.log.deliveries(board="ix")
    assert sorted((d.posting_id, d.state, d.attempts, d.last_status) for d in logged) == [
        (p, SUCCEEDED, 1, 202) for p in ("a", "b", "e")
    ], "one delivery per posting event, each with the call's answer"
    call = endpoint.calls[0]
    assert call["path"] == "/indexnow"
    assert call["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert call["headers"]["User-Agent"].startswith("syndicate/")
    host = web.base.removeprefix("http://")
    assert {k: v for k, v in call["body"].items() if k != "urlList"} == {
        "host": host,
        "key": KEY,
        "keyLocation": f"{web.base}/{KEY}.txt",
    }
    assert (call["key_status"], call["key_text"], call["key_type"]) == (200, KEY, "text/plain; charset=utf-8")

    def sent_after(change: Any) -> list[list[str]]:
        before = len(endpoint.calls)
        change()
        worker.cycle()
        return endpoint.urls()[before:]

    assert sent_after(lambda: write(h.postings, "a.md", posting_text("a", title="Senior"))) == [
        [f"{web.base}/jobs/a", sitemap]
    ], "an edit"
    assert sent_after(lambda: write(h.postings, "b.md", posting_text("b", status="closed"))) == [
        [f"{web.base}/jobs/b", sitemap]
    ], "a close: IndexNow wants removals too"
    assert sent_after(lambda: h.clock.advance(days=2)) == [[f"{web.base}/jobs/e", sitemap]], "an expiry"
    assert sent_after(lambda: write(h.postings, "a.md", posting_text("a", status="draft"))) == [
        [f"{web.base}/jobs/a", sitemap]
    ], "a draft after open"
    write(h.postings, "b.md", posting_text("b", title="Designer"))
    worker.cycle()
    assert sent_after(lambda: (h.postings / "b.md").unlink()) == [[f"{web.base}/jobs/b", sitemap]], "a delete"
    assert sent_after(lambda: None) == [], "nothing more is owed"


def test_a_422_is_recorded_with_its_text_and_retried(h: Harness, web: Web, endpoint: IndexNowEndpoint) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(indexnow_toml("ix", endpoint.url))
    endpoint.status, endpoint.text = 422, f"URLs don't belong to the host or the key {KEY} does not match"
    worker = h.worker(base_url=web.base)
    assert worker.cycle().outcomes == {PENDING: 1}
    listed = run_cli(cli_env(h, web), "deliveries", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["board"], row["kind"], row["posting"], row["state"], row["last_status"]) == (
        "ix",
        "indexnow",
        "a",
        "pending",
        422,
    )
    [attempt] = row["attempt_log"]
    assert attempt["excerpt"] == "URLs don't belong to the host or the key *** does not match"
    endpoint.status, endpoint.text = 200, ""
    h.clock.advance(seconds=10)  # past the schedule's second step (5 s, with jitter)
    assert worker.cycle().outcomes == {SUCCEEDED: 1}
    assert endpoint.urls() == [[f"{web.base}/jobs/a", f"{web.base}/sitemap.xml"]] * 2


def test_a_broken_channel_entry_is_reported_and_the_webhook_board_keeps_delivering(
    h: Harness, web: Web, endpoint: IndexNowEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    broken = (
        indexnow_toml("short-key", endpoint.url, key="abc")
        + indexnow_toml("from-env", endpoint.url, key_env="SYNDICATE_TEST_UNSET_INDEXNOW_KEY")
        + indexnow_toml("both", endpoint.url, key=KEY, key_env="X")
        + indexnow_toml("signed", endpoint.url, key=KEY, secret=DEMO_SECRET)
        + '[[boards]]\nname = "pigeon"\nkind = "carrier-pigeon"\n'
    )
    h.boards(board_toml("hooks", h.sink.url) + broken)
    expected = [
        "board 'short-key': key: must be 8 to 128 characters of a-z, A-Z, 0-9 and '-', got 3 character(s)",
        "board 'from-env': key_env: the variable SYNDICATE_TEST_UNSET_INDEXNOW_KEY is not set",
        "board 'both': key: give key or key_env, not both",
        "board 'signed': secret: a webhook key, not used by an indexnow board",
        "board 'pigeon': kind: unknown kind 'carrier-pigeon' (known: webhook, indexnow, google-indexing)",
    ]
    pushed = run_cli(cli_env(h, web), "push")  # a real process: the start of a run
    assert pushed.returncode == 0, pushed.stderr
    for line in expected:
        assert line in pushed.stderr
    assert h.received() == [("posting.created", "a", 1)], "the webhook board got its event"
    assert endpoint.calls == []
    assert KEY not in pushed.stderr + pushed.stdout and DEMO_SECRET not in pushed.stderr

    with caplog.at_level(logging.ERROR, logger="syndicate.push.boards"):
        worker = h.worker(base_url=web.base)
        write(h.postings, "a.md", posting_text("a", title="Senior"))
        worker.cycle()
        assert [line for line in expected if line in caplog.text] == expected, "at the worker's start"
        caplog.clear()
        h.boards(board_toml("hooks", h.sink.url) + broken + "# edited\n")  # a reload, still wrong
        worker.cycle()
        assert [line for line in expected if line in caplog.text] == expected, "and at a reload"
    assert [e[2] for e in h.received()] == [1, 2]
    assert KEY not in caplog.text


def test_the_key_is_in_no_log_line_delivery_log_metrics_or_repr(
    h: Harness, web: Web, endpoint: IndexNowEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b"))
    h.boards(indexnow_toml("ix", endpoint.url))
    endpoint.status, endpoint.text = 400, f"bad request for key {KEY}"
    with caplog.at_level(logging.DEBUG, logger="syndicate"):  # (the fake's own GET of keyLocation is not ours)
        worker = h.worker(base_url=web.base)
        worker.cycle()
        endpoint.status = 202
        h.clock.advance(seconds=10)
        worker.cycle()
    assert len(endpoint.calls) == 2 and all(c["body"]["key"] == KEY for c in endpoint.calls)
    assert "delivery msg_" in caplog.text and "http 400" in caplog.text, "the failures were logged"
    env = cli_env(h, web)
    outputs = {
        "log": caplog.text,
        "repr": repr(worker.boards()) + str(worker.boards()["ix"].key),
        "worker metrics": generate_latest(h.metrics).decode(),
        "web metrics": requests.get(f"{web.base}/metrics", timeout=5).text,
        "web log": web.output(),
    }
    for args in (("deliveries",), ("deliveries", "--format", "json"), ("boards",), ("push", "--dry-run")):
        result = run_cli(env, *args)
        assert result.returncode == 0, result.stderr
        outputs[" ".join(args)] = result.stdout + result.stderr
    assert "bad request for key ***" in outputs["deliveries --format json"]
    leaks = [name for name, text in outputs.items() if KEY in text]
    assert leaks == []


def test_parse_an_indexnow_board_with_its_defaults() -> None:
    [board] = parse_boards(f'[[boards]]\nname = "ix"\nkind = "indexnow"\nkey = "{KEY}"\n', Path("boards.toml"), {})
    assert (board.kind, board.url, board.key.reveal() if board.key else None) == (
        "indexnow",
        "https://api.indexnow.org/indexnow",
        KEY,
    )
    [webhook] = parse_boards(board_toml("w", "https://w.example/h"), Path("boards.toml"), {})
    assert webhook.kind == "webhook", "kind defaults to webhook: today's files keep working"


def test_ping_of_a_channel_says_it_pings_only_webhook_boards(h: Harness, web: Web, endpoint: IndexNowEndpoint) -> None:
    h.boards(indexnow_toml("ix", endpoint.url))
    result = run_cli(cli_env(h, web), "boards", "ping", "ix")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "board 'ix' is of kind 'indexnow': ping sends only to webhook boards" in result.stderr
    assert endpoint.calls == [] and KEY not in result.stdout + result.stderr


def test_a_killed_worker_sends_indexnow_exactly_what_it_still_owes(
    h: Harness, web: Web, endpoint: IndexNowEndpoint
) -> None:
    h.boards(indexnow_toml("ix", endpoint.url))
    env = cli_env(h, web) | {"SYNDICATE_DELIVERY_TIMEOUT": "2", "SYNDICATE_LEASE_SECONDS": "6"}
    for n in range(10):
        write(h.postings, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
    worker = WorkerProcess(env, h.tmp_path / "worker.log")
    try:
        assert wait_for(lambda: len(endpoint.calls) >= 1, 60), worker.output()  # the backfill's call
        endpoint.delay = 2.0  # the next call is held: the kill finds it in flight
        for n in range(10, 30):  # a burst while the worker sends
            write(h.postings, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
        assert wait_for(lambda: len(endpoint.calls) >= 2, 60), worker.output()  # arrived, not yet answered
    finally:
        worker.stop(9)  # SIGKILL
    endpoint.delay = 0.0
    log = DeliveryLog(h.worker().outbox.store)  # (this worker only reads the log: it never runs a cycle)
    done = {d.posting_id for d in log.deliveries(board="ix", limit=100) if d.state == SUCCEEDED}
    assert len(done) < 30, "killed before the burst was delivered"
    before = len(endpoint.calls)
    restarted = WorkerProcess(env, h.tmp_path / "worker2.log")
    pages = {f"{web.base}/jobs/p{n:02d}" for n in range(30)}
    try:
        assert wait_for(lambda: pages <= {u for urls in endpoint.urls() for u in urls}, 90), restarted.output()
        assert wait_for(lambda: all(d.state == SUCCEEDED for d in log.deliveries(board="ix", limit=100)), 30)
    finally:
        code, _ = restarted.stop()
    assert code == 0
    after = {u for urls in endpoint.urls()[before:] for u in urls} - {f"{web.base}/sitemap.xml"}
    owed = {f"{web.base}/jobs/{pid}" for pid in {f"p{n:02d}" for n in range(30)} - done}
    assert after == owed, "after the restart: every URL still owed, and none recorded as delivered"
    assert len(log.deliveries(board="ix", limit=100)) == 30


def test_a_kind_change_makes_a_new_channel_that_drops_the_webhook_events_and_is_backfilled(
    h: Harness, web: Web, endpoint: IndexNowEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """The same name under another kind is a new channel: nothing of the old format reaches it."""
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b", title="Designer"))
    h.boards(board_toml("jobs", h.sink.url))
    worker = h.worker(base_url=web.base)
    assert len(worker.scan() or []) == 2, "two webhook events owed, not sent yet"
    h.boards(indexnow_toml("jobs", endpoint.url))
    with caplog.at_level(logging.WARNING, logger="syndicate.store.outbox"):
        report = worker.cycle()
    assert report.outcomes == {SUCCEEDED: 2}
    assert h.received() == [], "no webhook envelope went anywhere"
    assert endpoint.urls() == [[f"{web.base}/jobs/a", f"{web.base}/jobs/b", f"{web.base}/sitemap.xml"]]
    assert (
        "board jobs changed kind from webhook to indexnow: 2 pending delivery(ies) of the old kind dropped"
        in caplog.text
    )
    logged = worker.outbox.log.deliveries(board="jobs")
    assert sorted((d.posting_id, d.kind, d.state) for d in logged) == [
        ("a", "indexnow", SUCCEEDED),
        ("a", "webhook", SUPERSEDED),
        ("b", "indexnow", SUCCEEDED),
        ("b", "webhook", SUPERSEDED),
    ]
    write(h.postings, "a.md", posting_text("a", title="Senior"))
    worker.cycle()
    assert endpoint.urls()[1:] == [[f"{web.base}/jobs/a", f"{web.base}/sitemap.xml"]], "then only what changes"
    h.boards(board_toml("jobs", h.sink.url))  # and back: a webhook board again, backfilled with envelopes
    worker.cycle()
    assert sorted(h.received()) == [("posting.created", "a", 2), ("posting.created", "b", 1)]
    assert len(endpoint.calls) == 2


def test_a_delivery_in_flight_when_its_board_changed_kind_is_not_sent_in_the_old_format(
    h: Harness, web: Web, endpoint: IndexNowEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker claimed a webhook event and died; the board became an IndexNow channel before the
    lease ran out. The event is never sent, to either peer; the new channel gets its backfill."""
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board_toml("jobs", h.sink.url))
    worker = h.worker(base_url=web.base)
    worker.scan()
    [held] = worker.outbox.claim(h.clock(), "a-worker-killed-later", 10, timedelta(seconds=30), ["jobs"])
    assert held.kind == "webhook"
    h.boards(indexnow_toml("jobs", endpoint.url))
    assert worker.cycle().outcomes == {}, "the backfill waits behind the one in flight, as any next event does"
    h.clock.advance(seconds=31)
    with caplog.at_level(logging.WARNING, logger="syndicate.push.worker"):
        assert worker.cycle().outcomes == {SUPERSEDED: 1, SUCCEEDED: 1}
    assert "board jobs: 1 delivery(ies) built for a webhook channel not sent: the board is now indexnow" in caplog.text
    assert h.received() == []
    assert endpoint.urls() == [[f"{web.base}/jobs/a", f"{web.base}/sitemap.xml"]]
    [old] = [d for d in worker.outbox.log.deliveries(board="jobs") if d.webhook_id == held.webhook_id]
    assert (old.state, old.attempts) == (SUPERSEDED, 0)


def test_a_kind_changed_and_changed_back_before_any_scan_sends_what_was_owed_as_built(
    h: Harness, web: Web, endpoint: IndexNowEndpoint
) -> None:
    """The dispatcher may see an edited boards.toml before a scan does: the scan decides, so an edit
    undone in between loses nothing."""
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board_toml("jobs", h.sink.url))
    worker = h.worker(base_url=web.base)
    worker.scan()
    h.boards(indexnow_toml("jobs", endpoint.url))
    assert worker.deliver().outcomes == {PENDING: 1}, "not sent as a webhook to an IndexNow endpoint, nor dropped"
    h.boards(board_toml("jobs", h.sink.url))  # changed back
    h.clock.advance(seconds=1)
    assert worker.cycle().outcomes == {SUCCEEDED: 1}
    assert h.received() == [("posting.created", "a", 1)]
    assert endpoint.calls == []


def test_after_a_kind_change_an_answer_to_the_old_format_says_nothing_of_the_new_channel(
    h: Harness, web: Web, endpoint: IndexNowEndpoint
) -> None:
    """A webhook call in flight when the board became an IndexNow channel answers 410 after the
    switch was scanned: the new channel is not disabled, and the old event is not retried there."""
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board_toml("jobs", h.sink.url))
    worker = h.worker(base_url=web.base)
    worker.scan()
    [held] = worker.outbox.claim(h.clock(), worker.owner, 10, timedelta(seconds=30), ["jobs"])
    h.boards(indexnow_toml("jobs", endpoint.url))
    worker.scan()
    now = h.clock()
    gone = Attempt(held.webhook_id, now, 410, 12.0, "http", "Gone")
    worker.outbox.record([Outcome(held, gone, PENDING, now, count=False, disable_reason="410 Gone")], now)
    assert "jobs" not in worker.outbox.log.disabled_boards()
    worker.scan()  # the old event came back to be retried: the scan drops it
    assert worker.outbox.log.deliveries(posting="a", board="jobs")[-1].state == SUPERSEDED
    assert worker.cycle().outcomes == {SUCCEEDED: 1}
    assert endpoint.urls() == [[f"{web.base}/jobs/a", f"{web.base}/sitemap.xml"]]
    assert h.received() == []
    redo = run_cli(cli_env(h, web), "redeliver", held.webhook_id)
    assert redo.returncode == 1 and "its board changed kind since it was built" in redo.stderr


def test_the_documented_call_is_what_the_endpoint_receives(h: Harness, web: Web, endpoint: IndexNowEndpoint) -> None:
    """docs/push.md shows a real backfill call; the same postings make the same call here."""
    request, shown, body = documented_request("## IndexNow")
    for pid in ("harbor-sre", "kestrel-backend", "verdant-grid-data-engineer"):
        write(h.postings, f"{pid}.md", posting_text(pid))
    h.boards(indexnow_toml("ix", endpoint.url))
    h.worker(base_url=web.base).cycle()
    [call] = endpoint.calls
    assert request == f"POST {call['path']} HTTP/1.1"
    shown_and_sent_headers_agree(shown, call["headers"], DOCUMENTED_SITE, web.base)
    assert (
        json.loads(body.replace(DOCUMENTED_SITE.removeprefix("http://"), web.base.removeprefix("http://")))
        == call["body"]
    )


def test_a_kind_change_starts_the_health_afresh_and_a_quick_change_back_is_an_error(
    h: Harness, web: Web, endpoint: IndexNowEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """The old peer's 410 says nothing of the new one; a board that flips back within minutes looks
    like two workers reading different boards.toml files, and is logged as an error."""
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board_toml("jobs", h.sink.url))
    h.sink.answers.append((410, {}))
    worker = h.worker(base_url=web.base)
    worker.cycle()
    assert worker.outbox.log.disabled_boards() == {"jobs"}
    h.boards(indexnow_toml("jobs", endpoint.url))
    h.clock.advance(minutes=1)
    with caplog.at_level(logging.WARNING, logger="syndicate.store.outbox"):
        assert worker.cycle().outcomes == {SUCCEEDED: 1}
        assert worker.outbox.log.disabled_boards() == set()
        assert "changed kind back" not in caplog.text, "a first change is no flip"
        h.boards(board_toml("jobs", h.sink.url))
        h.clock.advance(seconds=5)
        worker.cycle()
    flips = [r for r in caplog.records if "changed kind back" in r.getMessage()]
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in flips] == [
        (logging.ERROR, "board jobs changed kind back to webhook 5 s after it left it")
    ]
    assert [e[:2] for e in h.received()] == [("posting.created", "a")] * 2, "the 410, then the backfill"
    h.boards(indexnow_toml("jobs", endpoint.url))
    h.clock.advance(minutes=11)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syndicate.store.outbox"):
        worker.cycle()
    assert "changed kind back" not in caplog.text, "minutes apart: an operator's edits"
