"""The WebSub channel end to end: a fake hub that checks every publish call's form and, as real hubs do,
fetches every topic from the running web process (real gunicorn), checking that it answers 200, names
itself (``rel=self``) and the hub (``rel=hub``) in its Link header, and that its bytes changed since the
hub's previous fetch of it.

The worker runs in the test (``test_push.Harness``) on a clock the test moves but which also runs with
real time (``RunningClock``): the web process is a real process on the real clock, and the publish
delay (a websub delivery is due a reload interval after the scan) only protects a hub if both agree
on how much time passed.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from conftest import posting_text, write
from processes import Web, run_cli, service_env, wait_for
from test_indexnow import indexnow_toml
from test_push import Harness, board_toml
from test_push_docs import documented_request, section, shown_and_sent_headers_agree

from bench.fake_hub import Call, Hub
from bench.sink import Sink
from syndicate.push import websub
from syndicate.push.boards import parse_config, websub_boards
from syndicate.push.delivery import Policy
from syndicate.push.worker import Worker
from syndicate.store.records import DELIVERING, PENDING, SUCCEEDED, SUPERSEDED

RELOAD_INTERVAL = 1.0  # the web's (and the worker's) SYNDICATE_RELOAD_INTERVAL: the default
PUBLISH_DELAY = RELOAD_INTERVAL + websub.PUBLISH_MARGIN


class RunningClock:
    """The test's clock: it runs with real time from the real now (the web judges expiry by the real
    clock), and ``advance`` moves it further (retry schedules) without waiting."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC)  # wall-clock: the web process reads the real clock
        self.started = time.monotonic()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.started) + self.offset

    def advance(self, **delta: float) -> datetime:
        self.offset += timedelta(**delta)
        return self()


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    assert server.problems == [], "the hub would have refused or found nothing new"


@pytest.fixture
def h(tmp_path: Path, database_url: str, postings_dir: Path, sink: Sink) -> Iterator[Harness]:
    harness = Harness(tmp_path, database_url, postings_dir, sink)
    harness.clock = RunningClock()  # type: ignore[assignment]
    yield harness
    harness.close()


@pytest.fixture
def web(h: Harness, hub: Hub) -> Iterator[Web]:
    """gunicorn over the harness's postings, advertising the hub (two workers: each reloads on its own)."""
    h.boards()
    env = web_env(h, hub)
    server = Web(env, h.tmp_path / "web.log", workers=2)
    # A gunicorn worker starts its refresher at its first request, and first re-reads one interval
    # later: until then it serves what it loaded at boot. One request to each worker before any posting
    # is written, so every worker re-reads on the schedule the publish delay counts on.
    server.each_worker("/readyz")
    yield server
    server.stop()


def web_env(h: Harness, hub: Hub, **more: str) -> dict[str, str]:
    return service_env(
        h.tmp_path,
        h.postings,
        h.database_url,
        SYNDICATE_BOARDS=str(h.boards_path),
        SYNDICATE_WEBSUB_HUBS=hub.url,
        SYNDICATE_RELOAD_INTERVAL=str(RELOAD_INTERVAL),
        **more,
    )


def hub_worker(h: Harness, web: Web, hub: Hub, **overrides: Any) -> Worker:
    return h.worker(base_url=web.base, websub_hubs=(hub.url,), reload_interval=RELOAD_INTERVAL, **overrides)


def hub_board(hub: Hub) -> str:
    [board] = websub_boards([hub.url])
    return board.name


def open_for(worker: Worker, board: str) -> list[Any]:
    return [d for d in worker.outbox.log.deliveries(board=board) if d.state in (PENDING, DELIVERING)]


def publish(h: Harness, worker: Worker, hub: Hub, change: Callable[[], object] | None = None) -> list[Call]:
    """Make ``change``, scan, and deliver until nothing is owed to the hub: the calls it got. The
    first arrives no sooner than the publish delay after the scan (by then every web worker re-read)."""
    before = len(hub.calls)
    if change is not None:
        change()
    scanned = time.monotonic()
    worker.scan()

    def settled() -> bool:
        worker.deliver()
        return not open_for(worker, hub_board(hub))

    assert wait_for(settled, 20, every=0.1), "the hub's deliveries were not all sent"
    calls = hub.calls[before:]
    if calls:
        waited = calls[0].at - scanned
        assert waited >= PUBLISH_DELAY - 0.05, f"published {waited:.2f} s after the scan: before the web reloaded"
    return calls


def feeds(base: str, query: str = "") -> list[str]:
    suffix = f"?{query}" if query else ""
    return [f"{base}/feed.rss{suffix}", f"{base}/feed.atom{suffix}", f"{base}/feed.json{suffix}"]


def topic_set(base: str, *queries: str) -> set[str]:
    return {url for q in ("", *queries) for url in feeds(base, q)}


DOCUMENTED_SITE = "http://127.0.0.1:48669"  # where the web answered when docs/push.md's example was captured
A_FILTERS = ("tag=rust", "tag=go", "company=acme", "type=FULL_TIME", "remote=0")


def a_text(**fields: str) -> str:
    return posting_text("a", **({"tags": "[rust, Go]", "employment_type": "FULL_TIME"} | fields))


def test_backfill_then_open_edit_close_expire_draft_and_delete_each_publish_what_changed(
    h: Harness, web: Web, hub: Hub
) -> None:
    write(h.postings, "a.md", a_text())
    write(h.postings, "b.md", posting_text("b", title="Designer", remote="only"))
    write(h.postings, "c.md", posting_text("c", status="closed", tags="[closed-tag]"))
    write(h.postings, "d.md", posting_text("d", status="draft", tags="[draft-tag]"))
    worker = hub_worker(h, web, hub)
    [call] = publish(h, worker, hub)
    base = web.base
    b_filters = ("company=acme", "remote=1", "remote=only")
    assert set(call.topics) == topic_set(base, *A_FILTERS, *b_filters), "a new hub: every open posting's feeds"
    assert call.topics[:3] == feeds(base), "the main feeds first"
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.headers is not None and call.headers["User-Agent"].startswith("syndicate/")
    assert call.raw.startswith(b"hub.mode=publish&hub.url=http%3A%2F%2F127.0.0.1%3A")
    assert call.form[0] == ("hub.mode", "publish")
    assert all(f.status == 200 and f.changed for f in call.fetches) and len(call.fetches) == len(call.topics)
    json_feed = next(f for f in call.fetches if f.url == f"{base}/feed.json")
    assert f'<{hub.url}>; rel="hub"' in json_feed.link, "JSON Feed carries the hub in its Link header"
    logged = worker.outbox.log.deliveries(board=hub_board(hub))
    assert sorted((d.posting_id, d.state, d.last_status) for d in logged) == [
        ("a", SUCCEEDED, 204),
        ("b", SUCCEEDED, 204),
    ], "one delivery per posting event; the closed and the draft posting owe nothing"
    [attempt] = worker.outbox.log.attempts(logged[0].webhook_id)
    assert attempt.status_code == 204 and attempt.duration_ms > 0

    def topics_after(change: Callable[[], object], worker: Worker = worker) -> list[set[str]]:
        return [set(c.topics) for c in publish(h, worker, hub, change)]

    assert topics_after(lambda: write(h.postings, "a.md", a_text(title="Senior"))) == [topic_set(base, *A_FILTERS)], (
        "an edit: the posting's feeds"
    )
    assert topics_after(lambda: write(h.postings, "a.md", a_text(title="Senior", tags="[go]"))) == [
        topic_set(base, *A_FILTERS)
    ], "an edit that drops tag rust: ?tag=rust changed too"
    assert topics_after(lambda: write(h.postings, "a.md", a_text(title="Staff", tags="[go]"))) == [
        topic_set(base, "tag=go", "company=acme", "type=FULL_TIME", "remote=0")
    ], "rust is behind it now"
    assert topics_after(lambda: write(h.postings, "b.md", posting_text("b", status="closed"))) == [
        topic_set(base, *b_filters)
    ], "a close: the feeds it was listed in (its new content lists it nowhere)"
    assert topics_after(lambda: write(h.postings, "d.md", posting_text("d", status="draft", title="X"))) == [], (
        "a draft that changes sends nothing"
    )
    assert topics_after(lambda: write(h.postings, "d.md", posting_text("d", tags="[draft-tag]"))) == [
        topic_set(base, "tag=draft-tag", "company=acme", "remote=0")
    ], "a draft opened"
    assert topics_after(lambda: write(h.postings, "d.md", posting_text("d", status="draft"))) == [
        topic_set(base, "tag=draft-tag", "company=acme", "remote=0")
    ], "open -> draft is a close"

    soon = h.clock() + timedelta(seconds=4)
    assert topics_after(lambda: write(h.postings, "e.md", posting_text("e", valid_through=soon.isoformat()))) == [
        topic_set(base, "company=acme", "remote=0")
    ]
    assert wait_for(lambda: h.clock() > soon + timedelta(seconds=0.2), 10), "(the web expires it on the real clock)"
    assert topics_after(lambda: None) == [topic_set(base, "company=acme", "remote=0")], "an expiry, no file changed"

    restarted = hub_worker(h, web, hub)  # what was listed before is in the outbox, not in a worker's memory
    deleted = topics_after(lambda: (h.postings / "a.md").unlink(), restarted)
    assert deleted == [topic_set(base, "tag=go", "company=acme", "type=FULL_TIME", "remote=0")], (
        "a deleted file: the feeds its last delivery listed"
    )
    assert topics_after(lambda: None, restarted) == [], "nothing more is owed"


def test_edits_before_the_send_coalesce_into_one_call(h: Harness, web: Web, hub: Hub) -> None:
    worker = hub_worker(h, web, hub)
    write(h.postings, "a.md", a_text())
    publish(h, worker, hub)
    before = len(hub.calls)
    for title in ("Two", "Three", "Four"):
        write(h.postings, "a.md", a_text(title=title))
        worker.scan()
        worker.deliver()  # nothing is due yet: the publish delay
    assert len(hub.calls) == before
    [call] = publish(h, worker, hub)
    assert set(call.topics) == topic_set(web.base, *A_FILTERS)
    states = sorted(d.state for d in worker.outbox.log.deliveries(board=hub_board(hub)))
    assert states == [SUCCEEDED, SUCCEEDED, SUPERSEDED, SUPERSEDED]
    assert b"Four" in hub.bodies[f"{web.base}/feed.atom"], "the hub fetched the last state"


def test_a_hub_answering_500_is_retried_on_the_schedule(h: Harness, web: Web, hub: Hub) -> None:
    write(h.postings, "a.md", a_text())
    hub.status, hub.text = 500, "hub overloaded, try later"
    worker = hub_worker(h, web, hub)
    worker.scan()
    assert wait_for(lambda: (worker.deliver(), len(hub.calls) == 1)[1], 20, every=0.1)
    [waiting] = open_for(worker, hub_board(hub))
    assert (waiting.state, waiting.attempts, waiting.last_status) == (PENDING, 1, 500)
    assert waiting.next_attempt_at > h.clock() + timedelta(seconds=3), "the schedule's second step: 5 s, jittered"
    hub.status, hub.text = 204, ""
    worker.deliver()
    assert len(hub.calls) == 1, "not before its time"
    h.clock.advance(seconds=10)
    worker.deliver()
    assert [c.status for c in hub.calls] == [500, 204] and hub.topics()[0] == hub.topics()[1]
    listed = run_cli(cli_env(h, web, hub), "deliveries", "--board", hub_board(hub), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["state"] == "succeeded"
    statuses = sorted((a["status"], a["excerpt"]) for a in row["attempt_log"] if a["status"] == 500)
    assert statuses == [(500, "hub overloaded, try later")] and len(row["attempt_log"]) == 2
    assert {a["status"] for a in row["attempt_log"]} == {500, 204}
    assert all(a["ms"] > 0 for a in row["attempt_log"]), "each call's duration"


def test_a_hanging_hub_does_not_delay_a_webhook_board(h: Harness, web: Web, hub: Hub) -> None:
    write(h.postings, "a.md", a_text())
    h.boards(board_toml("hooks", h.sink.url))
    hub.hang.set()
    worker = hub_worker(h, web, hub)
    worker.scan()
    [owed] = open_for(worker, hub_board(hub))
    assert wait_for(lambda: h.clock() >= owed.next_attempt_at, 10), "(both due now)"
    started = time.monotonic()
    running = threading.Thread(target=worker.deliver)
    running.start()
    assert wait_for(lambda: h.received() != [], 10)
    arrived = h.events()[0]["at"] - started
    assert wait_for(lambda: hub.hanging == 1, 10), "the hub call was under way"
    assert arrived < 1.0, f"the webhook board waited {arrived:.2f} s"
    running.join(30)
    [waiting] = open_for(worker, hub_board(hub))
    assert (waiting.state, waiting.attempts, waiting.last_error) == (PENDING, 1, "timeout")
    hub.hang.clear()
    hub.release.set()
    assert wait_for(lambda: len(hub.calls) == 1, 10), "the abandoned call is over"
    h.clock.advance(seconds=10)
    assert wait_for(lambda: (worker.deliver(), not open_for(worker, hub_board(hub)))[1], 20, every=0.1)
    assert [c.status for c in hub.calls] == [0, 204]
    assert h.received() == [("posting.created", "a", 1)]


def cli_env(h: Harness, web: Web, hub: Hub) -> dict[str, str]:
    return web_env(h, hub, SYNDICATE_BASE_URL=web.base, SYNDICATE_RETRY_SCHEDULE=h.schedule)


def test_a_broken_channel_entry_beside_a_webhook_board_and_the_hub(h: Harness, web: Web, hub: Hub) -> None:
    write(h.postings, "a.md", a_text())
    broken = f'[[boards]]\nname = "hub-entry"\nkind = "websub"\nurl = "{hub.url}"\n' + indexnow_toml(
        "short-key", "https://api.indexnow.org/indexnow", key="abc"
    )
    h.boards(board_toml("hooks", h.sink.url) + broken)
    env = cli_env(h, web, hub)
    pushed = run_cli(env, "push")  # a real process
    assert pushed.returncode == 0, pushed.stderr
    assert "board 'hub-entry': kind: websub boards come from SYNDICATE_WEBSUB_HUBS, not boards.toml" in pushed.stderr
    assert "board 'short-key': key: must be 8 to 128 characters" in pushed.stderr
    assert h.received() == [("posting.created", "a", 1)], "the webhook board got its event at once"
    assert hub.calls == [], "the hub's is not due before the web has re-read the files"

    def pushed_to_hub() -> bool:  # later runs (real processes: real time) find it due
        again = run_cli(env, "push")
        assert again.returncode == 0, again.stderr
        return hub.calls != []

    assert wait_for(pushed_to_hub, 30, every=0.2)
    assert [set(t) for t in hub.topics()] == [topic_set(web.base, *A_FILTERS)]
    assert len(h.received()) == 1
    listed = run_cli(env, "boards")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(hub_board(hub)))
    assert f"{hub_board(hub)}  kind: websub  {hub.url}  enabled" in line
    assert "hub-entry" not in listed.stdout and "short-key" not in listed.stdout
    pinged = run_cli(env, "boards", "ping", hub_board(hub))
    assert pinged.returncode == 1 and "ping sends only to webhook boards" in pinged.stderr
    assert len(hub.calls) == 1


def test_each_hub_is_a_board_with_a_name_of_its_own() -> None:
    hubs = [
        "https://pubsubhubbub.appspot.com/",
        "http://127.0.0.1:8080/hub",
        "http://127.0.0.1:8080/other/",
        "https://hub.example",
        "http://hub.example",
        "https://hub.example/publish/s3cr3t-token-0123456789",
    ]
    boards = websub_boards(hubs)
    names = [b.name for b in boards]
    assert names[0] == "websub:pubsubhubbub.appspot.com" and names[3] == "websub:hub.example"
    assert names[1].startswith("websub:127.0.0.1:8080~") and names[4].startswith("websub:hub.example~")
    assert len(set(names)) == 6, "alike but for the scheme or the path: still one board each"
    assert all("s3cr3t" not in n for n in names), "a token in a hub's path is never a name (logs, metrics)"
    assert {b.kind for b in boards} == {"websub"} and boards[0].url == "https://pubsubhubbub.appspot.com/"
    later = websub_boards(["http://hub.example/", *hubs[::-1]])
    assert sorted(b.name for b in later) == sorted(names), "a name comes from its hub's URL alone: never renamed"
    assert later[0].name == names[4], "http://hub.example/ and http://hub.example are one hub, one name"
    spelled = websub_boards(
        ["https://BÜCHER.example/hub", "https://xn--bcher-kva.example:443/hub", "https://hub.example"]
    )
    assert len(spelled) == 2, "one hub, however its URL is spelled, is one board (not two publishes)"
    config = parse_config('[[boards]]\nname = "h"\nkind = "websub"\n', Path("boards.toml"), {})
    assert config.boards == ()
    assert config.left_out == ("board 'h': kind: websub boards come from SYNDICATE_WEBSUB_HUBS, not boards.toml",)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("https://user:pa55w0rd@hub.example/", "no credentials in it, got 'https://***@hub.example/'"),
        ("http://hub.example:99999/hub", "has a port out of range"),
    ],
)
def test_a_hub_url_that_would_leak_or_crash_is_a_settings_error(value: str, reason: str) -> None:
    from syndicate.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"SYNDICATE_WEBSUB_HUBS": value})
    assert reason in str(raised.value) and "pa55w0rd" not in str(raised.value)


def test_many_scans_plan_one_wake_up_thread(h: Harness, web: Web, hub: Hub) -> None:
    worker = h.worker(base_url=web.base, websub_hubs=(hub.url,), reload_interval=30.0)  # due 30 s after a scan
    before = threading.active_count()
    for n in range(40):
        write(h.postings, "a.md", posting_text("a", title=f"Edit {n}"))
        worker.scan()
    assert threading.active_count() - before <= 1, "one timer thread, however many scans wait"


def test_the_history_of_a_posting_reads_only_its_newest_deliveries(h: Harness, web: Web, hub: Hub) -> None:
    worker = hub_worker(h, web, hub)
    for n in range(12):
        write(h.postings, "a.md", posting_text("a", title=f"Edit {n}"))
        worker.scan()
    write(h.postings, "b.md", posting_text("b"))
    worker.scan()
    history = worker.outbox.log.history(hub_board(hub), ["a", "b"], limit=5)
    assert [len(history["a"]), len(history["b"])] == [5, 1]
    newest = worker.outbox.log.deliveries(board=hub_board(hub), posting="a", limit=5)
    assert [body for _, body in history["a"]] == [bytes(d.body) for d in newest], "newest first"


class _Recorder(BaseHTTPRequestHandler):
    """Keeps each publish form (and when it came); answers 500 to the calls numbered in ``server.fail``
    (1-based)."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        forms = self.server.forms  # type: ignore[attr-defined]
        with self.server.lock:  # type: ignore[attr-defined]
            forms.append(parse_qsl(raw.decode("ascii"), strict_parsing=True))
            self.server.arrivals.append(time.monotonic())  # type: ignore[attr-defined]
        status = 500 if len(forms) in self.server.fail else 204  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("fail", [(), (2,)])
def test_many_topics_go_in_calls_of_at_most_max_topics(fail: tuple[int, ...]) -> None:
    server = recorder(fail)
    try:
        topics = [f"https://jobs.example/feed.rss?tag=t{n}" for n in range(250)]
        bodies = [websub.stored_body(topics[:120], []), websub.stored_body(topics[100:250], []), b'{"topics":[]}']
        policy = Policy((0.0,), 2.0, 2.0)
        answer = websub.send(requests.Session(), f"http://127.0.0.1:{server.server_address[1]}/", bodies, policy)
        sent = [[v for k, v in form if k == "hub.url"] for form in server.forms]
        assert all(form[0] == ("hub.mode", "publish") for form in server.forms)
        if not fail:
            assert [len(s) for s in sent] == [100, 100, 50]
            assert [t for s in sent for t in s] == topics, "each topic once, in order"
            assert (answer.status, answer.error_class) == (204, None)
        else:
            assert [len(s) for s in sent] == [100, 100], "the first failure ends the batch"
            assert (answer.status, answer.error_class) == (500, "http")
    finally:
        server.shutdown()
        server.server_close()


def recorder(fail: tuple[int, ...] = ()) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.forms, server.fail, server.arrivals, server.lock = [], fail, [], threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow
def test_a_killed_worker_loses_nothing_on_the_hub_or_the_webhook_board(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    """A real worker process, SIGKILLed in the middle of a burst of edits and deletes, then restarted:
    each posting (its own tag, so its own topic) is published after its last change, and the webhook
    board gets every final state."""
    from test_worker_process import arrived, final_titles, start_worker, stop

    hub = recorder()
    url = f"http://127.0.0.1:{hub.server_address[1]}/hub"
    last_change: dict[str, float] = {}

    def change(n: int, title: str | None) -> None:
        name = f"p{n:02d}.md"
        if title is None:
            (postings_dir / name).unlink(missing_ok=True)
        else:
            write(postings_dir, name, posting_text(f"p{n:02d}", title=title, tags=f"[p{n:02d}]"))
        last_change[f"p{n:02d}"] = time.monotonic()

    def topic(pid: str) -> str:
        return f"https://jobs.example/feed.rss?tag={pid}"

    def unpublished() -> list[str]:
        """The postings no call has published since their last change."""
        with hub.lock:  # type: ignore[attr-defined]
            calls = list(zip(hub.arrivals, hub.forms, strict=True))  # type: ignore[attr-defined]
        return [
            pid
            for pid in sorted(last_change)
            if not any(at > last_change[pid] and ("hub.url", topic(pid)) in form for at, form in calls)
        ]

    try:
        for n in range(60):
            change(n, f"Role {n} v0")
        more = {"SYNDICATE_WEBSUB_HUBS": url, "SYNDICATE_RELOAD_INTERVAL": "0.2"}
        worker = start_worker(tmp_path, postings_dir, database_url, sink, **more)
        try:
            assert wait_for(lambda: len(hub.forms) >= 1 and len(sink.events) >= 10, 60), "it started delivering"  # type: ignore[attr-defined]
            changes = 0
            for round_ in range(1, 4):
                for n in range(50):
                    change(n, None if round_ == 2 and n % 10 == 0 else f"Role {n} v{round_}")
                    changes += 1
                    if changes == 75:
                        worker.send_signal(signal.SIGKILL)  # mid-burst: scans and sends are cut anywhere
                        worker.wait()
                    time.sleep(0.005)
                time.sleep(0.3)
        finally:
            if worker.poll() is None:
                worker.kill()
            if worker.stderr:
                worker.stderr.close()
        restarted = start_worker(tmp_path, postings_dir, database_url, sink, **more)
        try:
            expected = final_titles(postings_dir)
            assert wait_for(lambda: arrived(sink, expected), 90), "the webhook board got every final state"
            assert wait_for(lambda: unpublished() == [], 60), unpublished()
        finally:
            assert stop(restarted) == 0
    finally:
        hub.shutdown()
        hub.server_close()


def test_the_documented_publish_call_is_what_the_hub_receives(h: Harness, web: Web, hub: Hub) -> None:
    """docs/push.md shows a real backfill call, trimmed: the same postings make that call here."""
    request, shown, body = documented_request("## WebSub")
    write(h.postings, "a.md", a_text())
    write(h.postings, "b.md", posting_text("b", title="Designer", remote="only"))
    [call] = publish(h, hub_worker(h, web, hub), hub)
    assert request == f"POST {urlsplit(hub.url).path} HTTP/1.1"
    assert call.headers is not None
    shown_and_sent_headers_agree(shown, call.headers, DOCUMENTED_SITE, web.base)
    form = [(k, v.replace(DOCUMENTED_SITE, web.base)) for k, v in parse_qsl(body.replace("\n", ""))]
    assert form[0] == ("hub.mode", "publish") == call.form[0]
    shown_topics = [v for k, v in form[1:] if k == "hub.url"]
    assert shown_topics[:3] == call.topics[:3], "the main feeds first"
    left = iter(call.topics)
    assert all(topic in left for topic in shown_topics), "the topics shown are sent, in the order shown"
    assert f"and {len(shown_topics) - 3} of the {len(call.topics) - 3} filtered ones" in section("## WebSub").replace(
        "five", "5"
    )
