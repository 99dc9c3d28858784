"""A served file that breaks keeps its job online: every output, every process and the boards keep the last
good version, while /healthz, /metrics and the log say which file to fix.

Real processes over one real database: two gunicorn workers and the webhook worker, with a verifying
board. Every kind of broken file the loader refuses is applied to a served file while they run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest
from conftest import BACKENDS, migrate, postgresql_schema, posting_text, write
from processes import Web, WorkerProcess, wait_for
from test_slow_boards import boards_file, worker_env

from bench.sink import Sink

pytestmark = pytest.mark.slow

MAX_BYTES = 20_000
AS_ROOT = os.geteuid() == 0

# what each file becomes; every one is refused by the loader (the test checks /healthz names it)
BREAKAGES: dict[str, str | bytes] = {
    "invalid-yaml": "---\ntitle: [Engineer\ncompany: Acme\n---\nBody\n",
    "no-front-matter": "Only a description, the front matter lost.\n",
    "missing-title": "---\ncompany: Acme\n---\nBody\n",
    "missing-company": "---\ntitle: Engineer\n---\nBody\n",
    "wrong-type": "---\ntitle: Engineer\ncompany: Acme\ntags: {rust: yes}\n---\nBody\n",
    "unknown-employment-type": "---\ntitle: Engineer\ncompany: Acme\nemployment_type: sometimes\n---\nBody\n",
    "invalid-date": "---\ntitle: Engineer\ncompany: Acme\ndate_posted: 2026-13-45\n---\nBody\n",
    "ends-before-posted": (
        "---\ntitle: Engineer\ncompany: Acme\ndate_posted: 2026-11-10\nvalid_through: 2026-11-01\n---\n"
    ),
    "salary-not-finite": "---\ntitle: Engineer\ncompany: Acme\nsalary: {value: .inf, currency: USD, per: YEAR}\n---\n",
    "not-utf8": b"---\ntitle: Caf\xe9 Manager\ncompany: Acme\n---\nBody\n",
    "empty": "",
    "too-large": "---\ntitle: Engineer\ncompany: Acme\n---\n" + "word " * (MAX_BYTES // 4),
    "nested-too-deep": "---\ntitle: Engineer\ncompany: Acme\n---\n" + ">" * 40 + " deep\n",
    "id-not-a-slug": "---\nid: Not A Slug!\ntitle: Engineer\ncompany: Acme\n---\n",
    "id-too-long": f"---\nid: {'a' * 201}\ntitle: Engineer\ncompany: Acme\n---\n",
    "unreadable": None,  # chmod 000
}
KINDS = [
    pytest.param(
        kind, marks=pytest.mark.skipif(AS_ROOT, reason="root reads a file whatever its mode: needs a non-root user")
    )
    if kind == "unreadable"
    else kind
    for kind in BREAKAGES
]
STALE_NOTE = "still serving the last version that read"


@dataclass
class Views:
    """What the outputs say about every posting, at one moment, as each gunicorn worker answers."""

    pages: dict[str, set[tuple[bytes, str]]]  # id -> {(body, ETag)} over the workers
    jsonld: dict[str, set[bytes]]
    feed_entries: set[str]  # entry links of /feed.atom, from every worker
    feed_etags: set[str]
    sitemap: set[str]
    api: set[str]


def views(web: Web, ids: list[str]) -> Views:
    pages = {pid: {(r.content, r.headers["ETag"]) for r in web.each_worker(f"/jobs/{pid}")} for pid in ids}
    jsonld = {pid: {r.content for r in web.each_worker(f"/jobs/{pid}.jsonld")} for pid in ids}
    feeds = web.each_worker("/feed.atom?tag=kept")  # every posting but the control one, which the test edits
    entries = {e.link for r in feeds for e in feedparser.parse(r.content).entries}
    sitemap = {loc for r in web.each_worker("/sitemap.xml") for loc in re.findall(r"<loc>([^<]+)</loc>", r.text)}
    api = {p["id"] for r in web.each_worker("/api/postings") for p in r.json()["postings"]}
    return Views(pages, jsonld, entries, {r.headers["ETag"] for r in feeds}, sitemap, api)


def metric(web: Web, name: str) -> set[float]:
    found = set()
    for answer in web.each_worker("/metrics"):
        found |= {float(v) for v in re.findall(rf"^{name} (\S+)$", answer.text, re.M)}
    return found


@dataclass
class Run:
    before: Views
    broken: Views
    upgraded: Views  # broken, after a restart of every process with another parse setting
    fixed: Views
    broken_health: list[dict]
    fixed_health: list[dict]
    stale_metric: set[float]
    fixed_metric: set[float]
    events: list[tuple[str, str]]  # (type, posting id) the board received, in order
    log: str
    upgraded_log: str


def control_edit(postings: Path, sink: Sink, n: int) -> None:
    """Edit the healthy posting and wait until the board has its update: the worker has scanned since."""
    write(postings, "control.md", posting_text("control", title=f"Control {n}"))
    assert wait_for(lambda: any(_title(e) == f"Control {n}" for e in list(sink.events)), 30), "the worker did not scan"


def _title(event: dict) -> str | None:
    return (event["payload"]["data"].get("posting") or {}).get("title")


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'syndicate.db'}"
    else:
        yield from postgresql_schema()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("last-good")
    postings = tmp_path / "postings"
    originals = {
        kind: posting_text(kind, title=f"Engineer ({kind})", employment_type="FULL_TIME", tags="[kept]")
        for kind in BREAKAGES
    }
    for kind, text in originals.items():
        write(postings, f"{kind}.md", text)
    write(postings, "control.md", posting_text("control", title="Control 0"))
    database_url = database
    migrate(database_url)
    sink = Sink().start()
    env = worker_env(
        tmp_path,
        postings,
        database_url,
        boards_file(tmp_path, board=sink.url),
        SYNDICATE_RELOAD_INTERVAL="0.1",
        SYNDICATE_MAX_POSTING_BYTES=str(MAX_BYTES),
    )
    web = Web(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    kinds = [k for k in BREAKAGES if not (k == "unreadable" and AS_ROOT)]
    try:
        ids = [*BREAKAGES, "control"]
        assert wait_for(lambda: len(sink.events) >= len(ids), 60), worker.output()
        assert wait_for(lambda: web.all_healthy(status="ok"), 20), web.output()
        before = views(web, ids)

        for kind in kinds:
            path = postings / f"{kind}.md"
            if BREAKAGES[kind] is None:
                path.chmod(0)
            else:
                write(postings, path.name, BREAKAGES[kind])  # type: ignore[arg-type]
        broken_files = sorted(f"{k}.md" for k in kinds)

        def all_stale(body: dict) -> bool:
            return body["postings"].get("stale_files") == broken_files

        assert wait_for(lambda: web.all_healthy(all_stale), 30), web.health()
        control_edit(postings, sink, 1)
        control_edit(postings, sink, 2)  # a scan that began after every file broke
        broken = views(web, ids)
        broken_health = [r.json() for r in web.each_worker("/healthz")]
        stale_metric = metric(web, "syndicate_posting_files_stale")
        log = web.output() + worker.output()

        # a restart of every process under another parser setting (as an upgrade is): the records of the
        # old one are not trusted, and the files' last good text is read again
        web.stop()
        worker.stop()
        env = {**env, "SYNDICATE_MAX_TAGS": "49"}
        web = Web(env, tmp_path / "web-upgraded.log")
        worker = WorkerProcess(env, tmp_path / "worker-upgraded.log")
        assert wait_for(lambda: web.all_healthy(all_stale), 30), web.health()
        control_edit(postings, sink, 3)
        upgraded = views(web, ids)
        upgraded_log = web.output() + worker.output()

        for kind in kinds:
            path = postings / f"{kind}.md"
            path.chmod(0o644)
            write(postings, path.name, originals[kind])
        assert wait_for(lambda: web.all_healthy(status="ok"), 30), web.health()
        control_edit(postings, sink, 4)
        fixed = views(web, ids)
        fixed_health = [r.json() for r in web.each_worker("/healthz")]
        fixed_metric = metric(web, "syndicate_posting_files_stale")
        wait_for(lambda: False, 0.5)  # more scans: a file reported again on each would show now
    finally:
        web.stop()
        worker.stop()
        sink.shutdown()
        sink.server_close()
    assert not sink.rejected
    events = [(e["payload"]["type"], e["payload"]["data"]["id"]) for e in sink.events]
    yield Run(
        before,
        broken,
        upgraded,
        fixed,
        broken_health,
        fixed_health,
        stale_metric,
        fixed_metric,
        events,
        log,
        upgraded_log,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_page_keeps_its_bytes_and_etag(run: Run, kind: str) -> None:
    [page] = run.before.pages[kind]  # one page, the same from both workers
    assert page[0].startswith(b"<!doctype html>") and f"Engineer ({kind})".encode() in page[0]
    assert run.broken.pages[kind] == {page}
    assert run.broken.jsonld[kind] == run.before.jsonld[kind]
    assert run.upgraded.pages[kind] == {page}, "after an upgrade, the last good text read again"
    assert run.upgraded.jsonld[kind] == run.before.jsonld[kind]
    assert run.fixed.pages[kind] == {page}  # the fix brings back the same posting, not a new one


@pytest.mark.parametrize("kind", KINDS)
def test_the_feeds_sitemap_and_api_keep_the_posting(run: Run, kind: str) -> None:
    link = f"https://jobs.example/jobs/{kind}"
    assert link in run.before.feed_entries and link in run.broken.feed_entries
    assert link in run.broken.sitemap and kind in run.broken.api
    assert link in run.upgraded.feed_entries and link in run.upgraded.sitemap and kind in run.upgraded.api


@pytest.mark.parametrize("kind", KINDS)
def test_the_board_is_told_nothing_about_a_broken_file(run: Run, kind: str) -> None:
    assert [t for t, pid in run.events if pid == kind] == ["posting.created"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_server_logs_the_stale_file_once_over_every_process(run: Run, kind: str) -> None:
    for log in (run.log, run.upgraded_log):  # and once more by the processes of the new version
        lines = [line for line in log.splitlines() if f"posting {kind}.md:" in line]
        assert len(lines) == 1, "\n".join(lines)
        assert "error" in lines[0] and STALE_NOTE in lines[0]


def test_healthz_and_metrics_say_degraded_while_files_are_stale_and_ok_once_fixed(run: Run) -> None:
    stale = sorted(f"{k}.md" for k in BREAKAGES if not (k == "unreadable" and AS_ROOT))
    assert {h["status"] for h in run.broken_health} == {"degraded"}
    assert all(h["postings"]["stale_files"] == stale for h in run.broken_health)
    assert {h["postings"]["rejected_files"] for h in run.broken_health} == {0}  # still served: stale, not rejected
    assert run.stale_metric == {float(len(stale))}
    assert {h["status"] for h in run.fixed_health} == {"ok"}
    assert not any("stale_files" in h["postings"] for h in run.fixed_health)
    assert run.fixed_metric == {0.0}


def test_feeds_keep_their_etag_while_files_are_stale(run: Run) -> None:
    [etag] = run.before.feed_etags
    assert run.broken.feed_etags == {etag} and run.fixed.feed_etags == {etag}
