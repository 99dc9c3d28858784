"""The google-indexing channel end to end, against a fake Google (``bench.fake_google``) that verifies
the JWT assertion's RS256 signature, scope and audience before it issues a token, and checks the
bearer token and the body of every publish call.

The worker runs in the test with a clock the test moves (``test_push.Harness``), so the UTC days of
the quota are the test's; the kill -9 test runs the worker as a real process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import posting_text, write
from processes import WorkerProcess, run_cli, service_env, wait_for
from prometheus_client import generate_latest
from test_push import Harness, board_toml
from test_push_docs import documented_request, section, shown_and_sent_headers_agree

from bench.fake_google import EMAIL, SCOPE, FakeGoogle, google_toml, service_account_file
from bench.sink import DEMO_SECRET, Sink
from syndicate.push.boards import parse_config
from syndicate.push.google import day_of as google_day
from syndicate.services import build_services
from syndicate.settings import load_settings
from syndicate.store.log import DeliveryLog
from syndicate.store.quota import QuotaLedger
from syndicate.store.records import FAILED, PENDING, SUCCEEDED, SUPERSEDED

DELETED, UPDATED = "URL_DELETED", "URL_UPDATED"
PAGE = "https://jobs.example/jobs/"  # the harness's SYNDICATE_BASE_URL


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    yield fake
    fake.close()


@pytest.fixture
def h(tmp_path: Path, database_url: str, postings_dir: Path, sink: Sink) -> Iterator[Harness]:
    harness = Harness(tmp_path, database_url, postings_dir, sink)
    yield harness
    harness.close()


@pytest.fixture
def key_file(h: Harness, google: FakeGoogle) -> Path:
    return service_account_file(h.tmp_path / "secrets" / "indexing.json", google.account())


def board(google: FakeGoogle, name: str = "google", **keys: object) -> str:
    return google_toml(name, google, **({"credentials_file": "secrets/indexing.json"} | keys))


def since(google: FakeGoogle, before: int) -> list[tuple[str, str]]:
    return google.notified()[before:]


def test_backfill_edit_close_expiry_delete_and_draft(h: Harness, google: FakeGoogle, key_file: Path) -> None:
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b", title="Designer"))
    expiring = (h.clock() + timedelta(days=1)).isoformat()
    write(h.postings, "e.md", posting_text("e", title="Tester", valid_through=expiring))
    write(h.postings, "c.md", posting_text("c", status="closed"))
    write(h.postings, "d.md", posting_text("d", status="draft"))
    h.boards(board(google))
    worker = h.worker()
    assert worker.cycle().outcomes == {SUCCEEDED: 3}
    assert google.notified() == [(UPDATED, PAGE + p) for p in ("a", "b", "e")], "a new channel gets the open postings"
    [grant] = google.token_requests
    assert grant["claims"]["scope"] == SCOPE and grant["claims"]["iss"] == EMAIL, "the JWT the fake verified"
    assert google.refused == []
    call = google.calls[0]
    assert call["headers"]["User-Agent"].startswith("syndicate/")
    logged = worker.outbox.log.deliveries(board="google")
    assert sorted((d.posting_id, d.state, d.last_status) for d in logged) == [
        (p, SUCCEEDED, 200) for p in ("a", "b", "e")
    ]

    def after(change: object) -> list[tuple[str, str]]:
        before = len(google.calls)
        change() if callable(change) else None
        worker.cycle()
        return since(google, before)

    assert after(lambda: write(h.postings, "a.md", posting_text("a", title="Senior"))) == [(UPDATED, PAGE + "a")]
    assert after(lambda: write(h.postings, "b.md", posting_text("b", status="closed"))) == [(DELETED, PAGE + "b")]
    assert after(lambda: h.clock.advance(days=2)) == [(DELETED, PAGE + "e")], "an expiry, with no file change"
    assert after(lambda: write(h.postings, "a.md", posting_text("a", status="draft"))) == [(DELETED, PAGE + "a")]
    assert after(lambda: write(h.postings, "b.md", posting_text("b"))) == [(UPDATED, PAGE + "b")], "reopened"
    assert after(lambda: (h.postings / "b.md").unlink()) == [(DELETED, PAGE + "b")], "a delete"
    assert after(lambda: write(h.postings, "f.md", posting_text("f", status="draft"))) == [], "a new draft: nothing"
    assert after(None) == [], "nothing more is owed"
    assert len(google.token_requests) == 1, "one token for every call until it expires"


def test_changes_of_one_url_before_it_is_sent_are_one_call_of_its_latest_state(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google))
    worker = h.worker()
    worker.cycle()
    for n in range(4):
        write(h.postings, "a.md", posting_text("a", title=f"Edit {n}"))
        worker.scan()  # enqueued, not sent
    write(h.postings, "a.md", posting_text("a", status="closed"))
    worker.scan()
    worker.deliver()
    assert google.notified() == [(UPDATED, PAGE + "a"), (DELETED, PAGE + "a")], "five changes, one call"
    states = sorted(d.state for d in worker.outbox.log.deliveries(board="google"))
    assert states == [SUCCEEDED, SUCCEEDED, SUPERSEDED, SUPERSEDED, SUPERSEDED, SUPERSEDED]


def next_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_the_daily_quota_holds_and_the_rest_waits_for_the_next_utc_day_deletions_first(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    for n in range(4):
        write(h.postings, f"old{n}.md", posting_text(f"old{n}"))
    h.boards(board(google, daily_quota=4))
    worker = h.worker()
    worker.cycle()
    assert len(google.calls) == 4
    h.clock.now = next_midnight(h.clock()) + timedelta(hours=1)  # a new UTC day
    h.boards(board(google, daily_quota=3))
    for n in range(4):  # ten changes at once: four closes and six new postings
        write(h.postings, f"old{n}.md", posting_text(f"old{n}", status="closed"))
    for n in range(6):
        write(h.postings, f"new{n}.md", posting_text(f"new{n}"))
    day2 = h.clock()
    assert worker.cycle().outcomes == {SUCCEEDED: 3, PENDING: 7}
    assert since(google, 4) == [(DELETED, PAGE + f"old{n}") for n in range(3)], "three calls today, closes first"
    waiting = [d for d in worker.outbox.log.deliveries(board="google") if d.state == PENDING]
    assert len(waiting) == 7 and {d.next_attempt_at for d in waiting} == {next_midnight(day2)}
    assert all(d.attempts == 0 for d in waiting), "waiting for the quota is not a failed attempt"
    h.clock.advance(hours=20)  # still the same UTC day
    worker.cycle()
    assert len(google.calls) == 7, "no call beyond the quota the same day"

    h.clock.now = next_midnight(day2) + timedelta(minutes=1)
    worker.cycle()
    assert since(google, 7) == [(DELETED, PAGE + "old3"), (UPDATED, PAGE + "new0"), (UPDATED, PAGE + "new1")]
    h.clock.advance(days=1)
    worker.cycle()
    h.clock.advance(days=1)
    worker.cycle()
    assert since(google, 10) == [(UPDATED, PAGE + f"new{n}") for n in range(2, 6)]
    ledger = QuotaLedger(worker.outbox.store)
    days = [(day2 + timedelta(days=n)).date().isoformat() for n in range(4)]
    assert [ledger.used("google", day) for day in days] == [3, 3, 3, 1]
    assert FAILED not in {d.state for d in worker.outbox.log.deliveries(board="google")}


def test_the_ledger_counts_each_call_once_across_workers(h: Harness) -> None:
    worker = h.worker()  # migrates the database
    now = h.clock()
    ledgers = [QuotaLedger(h.worker().outbox.store) for _ in range(4)]  # four workers' own engines
    results: list[bool] = []
    lock = threading.Lock()

    def reserve(ledger: QuotaLedger, n: int) -> None:
        got = ledger.reserve("google", "2031-06-15", f"msg_{n}", 5, now)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=reserve, args=(ledgers[n % 4], n)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5, "at most the quota, however many workers ask at once"
    ledger = QuotaLedger(worker.outbox.store)
    granted = [n for n in range(24) if ledger.reserve("google", "2031-06-15", f"msg_{n}", 5, now)]
    assert len(granted) == 5, "a call reserved before is granted again (the same attempt after a crash)"
    assert ledger.used("google", "2031-06-15") == 5
    assert ledger.used("google", "2031-06-16") == 0 and ledger.reserve("google", "2031-06-16", "msg_99", 5, now)


def test_a_429_waits_for_the_next_utc_day_and_stops_calls_until_then(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b"))
    h.boards(board(google))
    quota_message = "Quota exceeded for quota metric 'Publish requests' and limit 'Publish requests per day'"
    google.answer = lambda _body: (
        429,
        {"error": {"code": 429, "message": quota_message, "status": "RESOURCE_EXHAUSTED"}},
    )
    worker = h.worker()
    start = h.clock()
    assert worker.cycle().outcomes == {PENDING: 2}
    assert len(google.calls) == 1, "after Google's 429 the other delivery is not sent today"
    deliveries = worker.outbox.log.deliveries(board="google")
    assert {(d.state, d.attempts, d.next_attempt_at) for d in deliveries} == {(PENDING, 0, next_midnight(start))}
    [answered] = [d for d in deliveries if d.last_status == 429]
    [attempt] = worker.outbox.log.attempts(answered.webhook_id)
    assert quota_message in (attempt.excerpt or "")
    google.answer = lambda _body: None
    h.clock.advance(hours=6)
    worker.cycle()
    assert len(google.calls) == 1
    h.clock.now = next_midnight(start)
    assert worker.cycle().outcomes == {SUCCEEDED: 2}
    assert sorted(google.notified()[1:]) == [(UPDATED, PAGE + "a"), (UPDATED, PAGE + "b")]


def cli_env(h: Harness) -> dict[str, str]:
    return service_env(
        h.tmp_path,
        h.postings,
        h.database_url,
        SYNDICATE_BOARDS=str(h.boards_path),
        SYNDICATE_BASE_URL="https://jobs.example",
        SYNDICATE_RETRY_SCHEDULE=h.schedule,
    )


def test_a_403_disables_the_board_with_googles_message_until_its_entry_or_key_changes(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    write(h.postings, "b.md", posting_text("b"))
    h.boards(board(google))
    denied = "Permission denied. Failed to verify the URL ownership."
    google.answer = lambda _body: (403, {"error": {"code": 403, "message": denied, "status": "PERMISSION_DENIED"}})
    worker = h.worker()
    worker.cycle()
    assert len(google.calls) == 1, "the first 403 stops the calls: no retry storm"
    listed = run_cli(cli_env(h), "boards")
    assert listed.returncode == 0, listed.stderr
    assert f"DISABLED (403 from Google at {h.clock().isoformat()}: {denied} (make {EMAIL} an owner" in listed.stdout
    assert 'syndicate_board_disabled{board="google"} 1.0' in generate_latest(h.metrics).decode()
    for _ in range(3):  # changes and the whole retry schedule pass: still no call
        write(h.postings, "c.md", posting_text("c", title=f"Role {h.clock().minute}"))
        h.clock.advance(hours=1)
        worker.cycle()
    assert len(google.calls) == 1
    assert {d.state for d in worker.outbox.log.deliveries(board="google")} == {PENDING}, "kept, not failed"

    google.answer = lambda _body: None  # ownership fixed in Search Console; the operator makes a new key
    h.boards(board(google) + "# a comment is not a change of the board\n")
    worker.cycle()
    assert len(google.calls) == 1
    service_account_file(key_file, google.account())
    worker.cycle()
    assert sorted(google.notified()[1:]) == [(UPDATED, PAGE + p) for p in ("a", "b", "c")]


def test_boards_enable_calls_a_403_board_again(h: Harness, google: FakeGoogle, key_file: Path) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google))
    google.answer = lambda _body: (
        403,
        {"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}},
    )
    worker = h.worker()
    worker.cycle()
    google.answer = lambda _body: None
    enabled = run_cli(cli_env(h), "boards", "enable", "google")
    assert enabled.returncode == 0, enabled.stderr
    worker.cycle()
    assert google.notified() == [(UPDATED, PAGE + "a")] * 2
    day = google_day(h.clock())
    assert worker.quota.used("google", day) == len(google.calls) == 2, "the ledger counts each call Google counted"


def test_a_token_endpoint_that_refuses_is_an_auth_failure_retried_on_the_schedule(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google))
    google.accounts.clear()  # Google no longer knows the key: the assertion's issuer is unknown
    worker = h.worker()
    assert worker.cycle().outcomes == {PENDING: 1}
    [delivery] = worker.outbox.log.deliveries(board="google")
    [attempt] = worker.outbox.log.attempts(delivery.webhook_id)
    assert attempt.error_class == "auth" and "invalid_grant" in (attempt.excerpt or "")
    assert google.calls == []
    assert QuotaLedger(worker.outbox.store).used("google", h.clock().date().isoformat()) == 0, "no call: no quota"
    service_account_file(key_file, google.account())  # a new key
    h.clock.advance(seconds=10)
    assert worker.cycle().outcomes == {SUCCEEDED: 1}


def test_a_hanging_google_endpoint_does_not_hold_up_a_webhook_board(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google) + board_toml("hooks", h.sink.url))
    google.hold.set()
    worker = h.worker()
    worker.scan()
    done = threading.Thread(target=worker.deliver, daemon=True)
    done.start()
    try:
        assert wait_for(lambda: google.holding == 1, 10), "the Google call is held"
        assert wait_for(lambda: h.received() == [("posting.created", "a", 1)], 10)
        assert google.holding == 1, "the webhook arrived while the Google call still hung"
        done.join(30)  # the held call is cut at its deadline (2 s here)
        assert not done.is_alive()
    finally:
        google.hold.clear()
    [held] = worker.outbox.log.deliveries(board="google")
    assert (held.state, held.last_error) == (PENDING, "timeout"), "cut at the deadline, then retried"
    h.clock.advance(seconds=10)
    worker.cycle()
    assert google.notified()[-1] == (UPDATED, PAGE + "a")


def test_broken_entries_are_reported_and_the_other_boards_run(
    h: Harness, google: FakeGoogle, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets_dir = h.tmp_path / "secrets"
    (secrets_dir / "notjson.json").write_text("{'type': 'service_account',", encoding="utf-8")
    (secrets_dir / "user.json").write_text(json.dumps({"type": "authorized_user", "client_id": "x"}), encoding="utf-8")
    good = json.loads(key_file.read_text(encoding="utf-8"))
    (secrets_dir / "nokey.json").write_text(json.dumps({k: v for k, v in good.items() if k != "private_key"}))
    (secrets_dir / "badkey.json").write_text(json.dumps(good | {"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"}))
    (secrets_dir / "adir.json").mkdir()
    os.mkfifo(secrets_dir / "fifo.json")  # reading it would wait for a writer for ever
    (secrets_dir / "huge.json").write_text(" " * 70000)
    broken = (
        board(google, "missing", credentials_file="secrets/none.json")
        + board(google, "notjson", credentials_file="secrets/notjson.json")
        + board(google, "user", credentials_file="secrets/user.json")
        + board(google, "nokey", credentials_file="secrets/nokey.json")
        + board(google, "badkey", credentials_file="secrets/badkey.json")
        + board(google, "adir", credentials_file="secrets/adir.json")
        + board(google, "fifo", credentials_file="secrets/fifo.json")
        + board(google, "huge", credentials_file="secrets/huge.json")
        + board(google, "both", credentials_env="SYNDICATE_TEST_GOOGLE_KEY")
        + board(google, "unset", credentials_file=None, credentials_env="SYNDICATE_TEST_UNSET_GOOGLE_KEY")
        + board(google, "quota", daily_quota=0)
        + board(google, "typo", daily_qouta=10)
    ).replace("credentials_file = null\n", "")
    known = "credentials_env, credentials_file, daily_quota, endpoint, kind, name"
    expected = [
        "board 'missing': credentials_file: secrets/none.json cannot be read: FileNotFoundError: "
        "No such file or directory",
        "board 'notjson': credentials_file: secrets/notjson.json is not JSON (line 1, column 2)",
        "board 'user': credentials_file: secrets/user.json is not a service-account key: "
        '"type" is not "service_account"',
        "board 'nokey': credentials_file: secrets/nokey.json is not a service-account key: no private_key",
        "board 'badkey': credentials_file: secrets/badkey.json private_key: not a PEM RSA private key",
        "board 'adir': credentials_file: secrets/adir.json cannot be read: not a regular file",
        "board 'fifo': credentials_file: secrets/fifo.json cannot be read: not a regular file",
        "board 'huge': credentials_file: secrets/huge.json cannot be read: 70000 bytes, more than a key file's 65536",
        "board 'both': credentials_file: give credentials_file or credentials_env, not both",
        "board 'unset': credentials_env: the variable SYNDICATE_TEST_UNSET_GOOGLE_KEY is not set",
        "board 'quota': daily_quota: must be a whole number of calls, at least 1, got 0",
        f"board 'typo': daily_qouta: unknown key (known: {known})",
    ]
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board_toml("hooks", h.sink.url) + broken + board(google))
    pushed = run_cli(cli_env(h), "push")  # a real process: the start of a run
    assert pushed.returncode == 0, pushed.stderr
    assert [line for line in expected if line in pushed.stderr] == expected
    assert h.received() == [("posting.created", "a", 1)], "the webhook board got its event"
    assert google.notified() == [(UPDATED, PAGE + "a")], "and the good google board its call"
    private = good["private_key"].splitlines()[1]
    assert private not in pushed.stderr + pushed.stdout and DEMO_SECRET not in pushed.stderr

    with caplog.at_level(logging.ERROR, logger="syndicate.push.boards"):
        worker = h.worker()
        worker.cycle()
        assert [line for line in expected if line in caplog.text] == expected, "at the worker's start"
        caplog.clear()
        (secrets_dir / "none.json").write_text(key_file.read_text(encoding="utf-8"), encoding="utf-8")  # a fix
        worker.cycle()
        assert "board 'missing'" not in caplog.text, "a key file put in place is read at once"
    assert set(worker.boards()) == {"hooks", "google", "missing"}


def test_no_credential_in_logs_delivery_log_metrics_or_repr(
    h: Harness, google: FakeGoogle, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google))
    google.answer = lambda body: (500, {"error": {"code": 500, "message": f"Internal error for {body['url']}"}})
    with caplog.at_level(logging.DEBUG, logger="syndicate"):
        worker = h.worker()
        worker.cycle()
        google.answer = lambda _body: None
        h.clock.advance(seconds=10)
        worker.cycle()
    assert len(google.calls) == 2 and "http 500" in caplog.text
    tokens = list(google.tokens)
    account = worker.boards()["google"].account
    secrets_ = [json.loads(key_file.read_text())["private_key"].splitlines()[1], *tokens]
    outputs = {
        "log": caplog.text,
        "repr": repr(worker.boards()) + str(account) + repr(account),
        "metrics": generate_latest(h.metrics).decode(),
    }
    for args in (("deliveries",), ("deliveries", "--format", "json"), ("boards",), ("push", "--dry-run")):
        result = run_cli(cli_env(h), *args)
        assert result.returncode == 0, result.stderr
        outputs[" ".join(args)] = result.stdout + result.stderr
    assert "Internal error for https://jobs.example/jobs/a" in outputs["deliveries --format json"]
    assert [name for name, text in outputs.items() if any(s in text for s in secrets_)] == []


def test_parse_a_google_board_with_its_defaults(tmp_path: Path, google: FakeGoogle) -> None:
    account = google.account()
    environ = {"INDEXING_KEY": json.dumps(account.info)}
    text = '[[boards]]\nname = "google"\nkind = "google-indexing"\ncredentials_env = "INDEXING_KEY"\n'
    [parsed] = parse_config(text, tmp_path / "boards.toml", environ).boards
    assert (parsed.kind, parsed.url, parsed.daily_quota) == (
        "google-indexing",
        "https://indexing.googleapis.com/v3/urlNotifications:publish",
        200,
    )
    assert parsed.account is not None and parsed.account.email == EMAIL
    assert account.private_key not in repr(parsed) + repr(parsed.account)


def test_a_killed_worker_owes_each_channel_exactly_what_is_left_and_counts_each_call_once(
    tmp_path: Path, postings_dir: Path, database_url: str, google: FakeGoogle
) -> None:
    key = service_account_file(tmp_path / "secrets" / "indexing.json", google.account())
    boards = tmp_path / "boards.toml"
    boards.write_text(google_toml("google", google, credentials_file=str(key.relative_to(tmp_path))), encoding="utf-8")
    for n in range(30):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
    env = service_env(
        tmp_path,
        postings_dir,
        database_url,
        SYNDICATE_BOARDS=str(boards),
        SYNDICATE_BASE_URL="https://jobs.example",
        SYNDICATE_DELIVERY_TIMEOUT="2",
        SYNDICATE_LEASE_SECONDS="6",  # the call cut by the kill is taken again soon
    )
    slow = google.answer
    google.answer = lambda body: (time.sleep(0.05), slow(body))[1]  # a burst that takes a while
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        assert wait_for(lambda: len(google.calls) >= 8, 60), worker.output()
    finally:
        worker.stop(9)  # SIGKILL, mid-burst
    cut = len(google.calls)
    assert cut < 30, "killed before the burst ended"
    settings = load_settings(environ={}, overrides={"database_url": database_url, "postings_dir": postings_dir})
    svc = build_services(settings)
    log = DeliveryLog(svc.store)
    done = {PAGE + d.posting_id for d in log.deliveries(board="google", limit=100) if d.state == SUCCEEDED}
    restarted = WorkerProcess(env, tmp_path / "worker2.log")
    try:
        every = {PAGE + f"p{n:02d}" for n in range(30)}
        assert wait_for(lambda: {url for _, url in google.notified()} == every, 90), restarted.output()
    finally:
        code, _ = restarted.stop()
    assert code == 0
    urls = [url for _, url in google.notified()]
    repeated = [url for url in every if urls.count(url) > 1]
    assert len(repeated) <= 1, "at most the call in flight at the kill is made again"
    assert {url for _, url in google.notified()[cut:]} == every - done, "after the restart: exactly what is owed"
    listed = run_cli(env, "deliveries", "--format", "json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["state"] for r in rows) == [SUCCEEDED] * 30
    try:
        ledger = QuotaLedger(svc.store)
        assert sum(ledger.used("google", d) for d in _days_around()) == 30, (
            "the ledger counts a call once, the one made again included"
        )
    finally:
        svc.store.close()


def _days_around() -> list[str]:
    """The UTC days a real-clock run may have spanned (the test never depends on which)."""
    now = datetime.now(UTC)  # wall-clock: the worker process ran on the real clock
    return [(now + timedelta(days=d)).date().isoformat() for d in (-1, 0)]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"<html>not json</html>", "token: an unreadable answer from the token endpoint"),
        (
            200,
            b'{"access_token": "ya29.x", "expires_in": "soon"}',
            "token: an unreadable answer from the token endpoint",
        ),
        (200, b'{"access_token": "ya29 with\\nline breaks", "expires_in": 3600}', "cannot be sent in a header"),
        (200, b'{"access_token": "' + b"x" * 100_000 + b'"}', "token: the token endpoint's answer is over 64 KiB"),
        (503, b'{"error": "temporarily_unavailable"}', "token: the token endpoint answered 503"),
    ],
    ids=["not-json", "bad-expiry", "unsendable-token", "huge", "503"],
)
def test_a_token_endpoint_answering_nonsense_is_one_auth_failure_of_one_request(
    h: Harness, google: FakeGoogle, key_file: Path, status: int, body: bytes, reason: str
) -> None:
    write(h.postings, "a.md", posting_text("a"))
    h.boards(board(google))
    google.token_answer = lambda: (status, body)
    worker = h.worker()
    assert worker.cycle().outcomes == {PENDING: 1}
    [delivery] = worker.outbox.log.deliveries(board="google")
    [attempt] = worker.outbox.log.attempts(delivery.webhook_id)
    assert attempt.error_class == "auth" and reason in (attempt.excerpt or ""), attempt.excerpt
    assert len(google.token_requests) == 1, "no retry inside the attempt: the schedule retries"
    assert google.calls == [] and "ya29" not in (attempt.excerpt or "")
    google.token_answer = lambda: None
    h.clock.advance(seconds=10)
    assert worker.cycle().outcomes == {SUCCEEDED: 1}


def test_a_short_lived_token_is_kept_for_half_its_life(h: Harness, key_file: Path) -> None:
    short = FakeGoogle(token_seconds=120).start()
    try:
        service_account_file(key_file, short.account())
        write(h.postings, "a.md", posting_text("a"))
        h.boards(board(short))
        worker = h.worker()
        worker.cycle()
        for n in range(3):
            write(h.postings, "a.md", posting_text("a", title=f"Edit {n}"))
            worker.cycle()
        assert len(short.calls) == 4 and len(short.token_requests) == 1
    finally:
        short.close()


def test_a_close_goes_before_updates_left_from_yesterday_and_a_raised_quota_lets_them_go(
    h: Harness, google: FakeGoogle, key_file: Path
) -> None:
    h.boards(board(google, daily_quota=1))
    for n in range(3):
        write(h.postings, f"p{n}.md", posting_text(f"p{n}"))
    worker = h.worker()
    worker.cycle()
    assert len(google.calls) == 1, "one today, two wait for tomorrow"
    h.clock.now = next_midnight(h.clock()) + timedelta(minutes=30)
    write(h.postings, "p0.md", posting_text("p0", status="closed"))
    worker.cycle()
    assert google.notified()[1] == (DELETED, PAGE + "p0"), "the close first, though the others waited longer"
    h.boards(board(google, daily_quota=10))  # raised during the day: what waits goes today
    worker.cycle()
    assert sorted(google.notified()[2:]) == [(UPDATED, PAGE + "p1"), (UPDATED, PAGE + "p2")]


def test_the_documented_calls_are_what_google_receives(h: Harness, google: FakeGoogle, key_file: Path) -> None:
    """docs/push.md shows the token request, its assertion's claims and a close as the fake got them."""
    section_text = section("## Google Indexing API")
    request, shown, body = documented_request("## Google Indexing API")
    assert request == "POST /token HTTP/1.1" and shown == {"content-type": "application/x-www-form-urlencoded"}
    assert body.startswith("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ")
    claims = re.search(r"whose assertion's claims were `(\{.*?\})`", section_text, re.S)
    assert claims, "the claims are shown"
    write(h.postings, "rust-backend.md", posting_text("rust-backend"))
    h.boards(board(google))
    worker = h.worker()
    worker.cycle()
    write(h.postings, "rust-backend.md", posting_text("rust-backend", status="closed"))
    worker.cycle()
    [grant] = google.token_requests
    documented = json.loads(claims.group(1))
    assert sorted(documented) == sorted(grant["claims"])
    assert {k: documented[k] for k in ("iss", "aud", "scope")} == {
        k: grant["claims"][k] for k in ("iss", "aud", "scope")
    }
    assert documented["exp"] - documented["iat"] == grant["claims"]["exp"] - grant["claims"]["iat"] == 3600
    request, shown, body = documented_request("## Google Indexing API", 1)
    close = google.calls[-1]
    assert request == "POST /v3/urlNotifications:publish HTTP/1.1"
    shown_and_sent_headers_agree(shown, close["headers"], "https://jobs.example", "https://jobs.example")
    assert shown["authorization"].startswith("Bearer ") and close["headers"]["Authorization"].startswith("Bearer ")
    assert json.loads(body) == close["body"] == {"url": PAGE + "rust-backend", "type": DELETED}
