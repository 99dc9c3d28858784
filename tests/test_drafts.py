"""A draft is served nowhere and pushed nowhere: with the real web (two gunicorn workers) and the real
webhook worker over one database, a ``status: draft`` file in the served folder is in no feed, the
Indeed feed, the sitemap or the API, its page is a 404, and no board is told of it, while an open
posting beside it is everywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest
from conftest import migrate, posting_text, write
from processes import REPO_ROOT, Web, WorkerProcess, wait_for
from test_slow_boards import boards_file, worker_env

from bench.sink import Sink

pytestmark = pytest.mark.slow

BASE = "https://jobs.example"  # worker_env's SYNDICATE_BASE_URL
FEEDS = ("/feed.rss", "/feed.atom")
DRAFT = posting_text("draft-job", title="Draft Job", status="draft", employment_type="FULL_TIME", tags="[kept]")


@dataclass
class Run:
    web: Web
    sink: Sink
    postings: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp_path = tmp_path_factory.mktemp("drafts")
    postings = tmp_path / "postings"
    write(
        postings, "open-job.md", posting_text("open-job", title="Open Job", employment_type="FULL_TIME", tags="[kept]")
    )
    write(postings, "draft-job.md", DRAFT)
    database_url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    migrate(database_url)
    sink = Sink().start()
    env = worker_env(
        tmp_path, postings, database_url, boards_file(tmp_path, board=sink.url), SYNDICATE_RELOAD_INTERVAL="0.1"
    )
    web = Web(env, tmp_path / "web.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        assert wait_for(lambda: "open-job" in ids_received(sink), 60), worker.output()
        # a later scan (the open posting edited) proves the worker looked at the folder again since
        write(postings, "open-job.md", posting_text("open-job", title="Open Job II", tags="[kept]"))
        assert wait_for(lambda: ids_received(sink).count("open-job") == 2, 30), worker.output()
        edited = lambda: all("Open Job II" in r.text for r in web.each_worker("/jobs/open-job"))  # noqa: E731
        assert wait_for(edited, 20), web.output()
        yield Run(web, sink, postings, env)
    finally:
        web.stop()
        worker.stop()
        sink.shutdown()
        sink.server_close()
    assert not sink.rejected


def ids_received(sink: Sink) -> list[str]:
    return [e["payload"]["data"]["id"] for e in list(sink.events)]


@pytest.mark.parametrize("path", FEEDS)
def test_a_draft_is_in_no_feed(run: Run, path: str) -> None:
    for answer in run.web.each_worker(path):
        links = [entry.link for entry in feedparser.parse(answer.content).entries]
        assert links == [f"{BASE}/jobs/open-job"], answer.text


def test_a_draft_is_not_in_the_json_feed(run: Run) -> None:
    for answer in run.web.each_worker("/feed.json"):
        assert [item["url"] for item in answer.json()["items"]] == [f"{BASE}/jobs/open-job"], answer.text


def test_a_draft_is_not_in_the_indeed_feed_the_sitemap_or_the_api(run: Run) -> None:
    for answer in run.web.each_worker("/feeds/indeed.xml"):
        assert re.findall(r"<referencenumber><!\[CDATA\[([^\]]*)\]\]>", answer.text) == ["open-job"], answer.text
    for answer in run.web.each_worker("/sitemap.xml"):
        pages = [loc for loc in re.findall(r"<loc>([^<]+)</loc>", answer.text) if "/jobs/" in loc]
        assert pages == [f"{BASE}/jobs/open-job"], answer.text
    for answer in run.web.each_worker("/api/postings"):
        assert [p["id"] for p in answer.json()["postings"]] == ["open-job"]


@pytest.mark.parametrize("path", ["/jobs/draft-job", "/jobs/draft-job.jsonld", "/api/postings/draft-job"])
def test_a_drafts_own_urls_answer_404(run: Run, path: str) -> None:
    assert {answer.status_code for answer in run.web.each_worker(path)} == {404}


def test_no_board_is_told_of_a_draft(run: Run) -> None:
    assert ids_received(run.sink) == ["open-job", "open-job"]
    logged = subprocess.run(
        [sys.executable, "-m", "syndicate", "deliveries", "--posting", "draft-job", "--format", "json"],
        cwd=REPO_ROOT,
        env={**os.environ, **run.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout.strip() == "[]", "nothing was even enqueued for the draft"
