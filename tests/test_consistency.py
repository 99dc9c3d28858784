"""What users noticed as inconsistent (issue 10): who the webhooks say sent them, whole-second timestamps
in every output, and a body's leading title heading shown once."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import extruct
import feedparser
import lxml.html
import pytest
from conftest import REPO_ROOT, SHIPPED_NOW, Clock, posting_text, write
from processes import run_cli, service_env

from bench.sink import DEMO_SECRET, Sink
from syndicate.postings.text import drop_title_heading, render_markdown
from syndicate.push.worker import Worker
from syndicate.services import build_services
from syndicate.settings import load_settings

SITE = "https://jobs.example"


def package_version() -> str:
    """The version the project declares (pyproject.toml), read here independently of the code."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


# --- User-Agent -------------------------------------------------------------------------------------


@pytest.fixture
def push_env(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> dict[str, str]:
    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    write(postings_dir, "a.md", posting_text("a"))
    return service_env(tmp_path, postings_dir, database_url, SYNDICATE_BOARDS=str(boards), SYNDICATE_BASE_URL=SITE)


def test_every_webhook_request_names_syndicate_its_version_and_the_site(push_env: dict[str, str], sink: Sink) -> None:
    """Deliveries and ``boards ping`` alike send ``User-Agent: syndicate/<version> (+<site>)``, as Svix and
    GitHub name themselves, rather than ``python-requests/x.y``."""
    assert run_cli(push_env, "migrate").returncode == 0
    pushed = run_cli(push_env, "push")
    assert pushed.returncode == 0, pushed.stderr
    pinged = run_cli(push_env, "boards", "ping", "board")
    assert pinged.returncode == 0, pinged.stderr
    assert [e["payload"]["type"] for e in sink.events] == ["posting.created", "ping"]
    expected = f"syndicate/{package_version()} (+{SITE})"
    assert [e["headers"].get("User-Agent") for e in sink.events] == [expected, expected]


# --- whole seconds everywhere ---------------------------------------------------------------------------------

FRACTION = re.compile(r"\d{2}:\d{2}:\d{2}[.,]\d")  # 12:00:00.123456, in any output's text
FIRST_SEEN = SHIPPED_NOW + timedelta(microseconds=654321)  # the clock when the posting is first seen
SECOND = FIRST_SEEN.replace(microsecond=0)


def outputs(client: Any, posting_id: str) -> dict[str, bytes]:
    paths = [
        "/",
        "/feed.rss",
        "/feed.atom",
        "/feed.json",
        "/feeds/indeed.xml",
        f"/jobs/{posting_id}",
        f"/jobs/{posting_id}.jsonld",
        "/api/postings",
        f"/api/postings/{posting_id}",
        "/sitemap.xml",
        "/companies/acme",
        "/healthz",
    ]
    answers = {path: client.get(path) for path in paths}
    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(paths, 200)
    return {path: a.data for path, a in answers.items()}


def test_a_posting_first_seen_mid_second_has_whole_seconds_in_every_output(
    make_app: Callable[..., Any], web_clock: Clock, postings_dir: Path, tmp_path: Path, database_url: str, sink: Sink
) -> None:
    """Its file gives no ``date_posted``: it is dated when first seen, at a moment with microseconds. Every
    output shows that moment to the second, as it shows every other time."""
    write(postings_dir, "a.md", posting_text("a", valid_through="2027-01-31T23:59:59Z"))
    # and one whose file gives its times with fractions
    write(
        postings_dir,
        "b.md",
        posting_text("b", date_posted="2026-11-02T08:30:00.5Z", valid_through="2027-01-31T23:59:59.25Z"),
    )
    web_clock.now = FIRST_SEEN
    client = make_app(postings_dir, base_url=SITE).test_client()
    bodies = {**outputs(client, "a"), **{f"{path} (b)": body for path, body in outputs(client, "b").items()}}
    fractions = {path: FRACTION.findall(body.decode()) for path, body in bodies.items()}
    assert {path: found for path, found in fractions.items() if found} == {}

    atom, rss = feedparser.parse(bodies["/feed.atom"]), feedparser.parse(bodies["/feed.rss"])
    assert [atom.entries[0].updated, atom.entries[0].published, atom.feed.updated] == ["2026-11-28T09:00:00+00:00"] * 3
    assert [atom.entries[1].updated, atom.entries[1].published] == ["2026-11-02T08:30:00+00:00"] * 2
    assert rss.entries[0].published_parsed[:6] == SECOND.timetuple()[:6]
    item = json.loads(bodies["/feed.json"])["items"][0]
    assert [item["date_published"], item["date_modified"]] == ["2026-11-28T09:00:00Z"] * 2
    [ld] = extruct.extract(bodies["/jobs/a"].decode(), base_url=f"{SITE}/jobs/a", syntaxes=["json-ld"])["json-ld"]
    assert ld["datePosted"] == "2026-11-28T09:00:00Z"
    api = json.loads(bodies["/api/postings/a"])
    assert [api["date_posted"], api["updated"]] == ["2026-11-28T09:00:00Z"] * 2
    assert b"<lastmod>2026-11-28T09:00:00Z</lastmod>" in bodies["/sitemap.xml"]
    assert b"Sat, 28 Nov 2026 09:00:00 GMT" in bodies["/feeds/indeed.xml"]

    # and the webhook the worker sends for it, on a clock that has microseconds too
    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    settings = load_settings(
        environ={},
        overrides={
            "postings_dir": postings_dir,
            "instance_dir": tmp_path / "instance",
            "database_url": database_url,
            "boards_path": boards,
            "base_url": SITE,
        },
    )
    worker_clock = Clock(FIRST_SEEN + timedelta(minutes=5))
    svc = build_services(settings, worker_clock)
    try:
        svc.loader.refresh()
        Worker(settings, svc.store, svc.loader, clock=worker_clock).cycle()
    finally:
        svc.close()
    event = {e["payload"]["data"]["id"]: e for e in sink.events}
    assert [FRACTION.findall(e["body"].decode()) for e in sink.events] == [[], []]
    assert event["a"]["payload"]["timestamp"] == "2026-11-28T09:05:00Z"
    assert event["a"]["payload"]["data"]["posting"]["datePosted"] == "2026-11-28T09:00:00Z"
    assert event["b"]["payload"]["data"]["posting"]["validThrough"] == "2027-01-31T23:59:59Z"


# --- a leading heading that repeats the title ---------------------------------------------------------------


def headings(html_text: str) -> list[str]:
    """The text of every heading, folded as the comparison folds it (case, spacing)."""
    tree = lxml.html.fromstring(html_text) if html_text.strip() else None
    found = tree.xpath("//h1|//h2|//h3|//h4|//h5|//h6") if tree is not None else []
    return [" ".join(h.text_content().split()).casefold() for h in found]


def body_of(title: str, body: str) -> str:
    return f"---\ntitle: {title}\ncompany: Acme\n---\n\n{body}\n"


def test_a_body_that_starts_with_its_title_shows_the_title_once(
    make_app: Callable[..., Any], postings_dir: Path
) -> None:
    """``# Backend  engineer`` under the title "Backend Engineer" (any case or spacing, h1 or h2) is not shown
    a second time under the title, on the page, in the feeds or in the JSON-LD; another first heading stays."""
    write(postings_dir, "a.md", body_of("Backend Engineer", "# Backend  ENGINEER\n\nWe are hiring a backend engineer."))
    write(postings_dir, "b.md", body_of("Data Engineer", "## Data *Engineer*\n\nWe are hiring."))
    write(postings_dir, "c.md", body_of("Support Lead", "# About Acme\n\nWe build things."))
    client = make_app(postings_dir, base_url=SITE).test_client()
    titles = {"a": "backend engineer", "b": "data engineer", "c": "support lead"}
    for pid, title in titles.items():
        page = client.get(f"/jobs/{pid}").text
        body = lxml.html.fromstring(page).xpath("//body")[0]
        assert headings(lxml.html.tostring(body, encoding="unicode")).count(title) == 1, (pid, page)
        [ld] = extruct.extract(page, base_url=f"{SITE}/jobs/{pid}", syntaxes=["json-ld"])["json-ld"]
        first = lxml.html.fragments_fromstring(ld["description"])[0]  # Google's description keeps no headings
        assert " ".join(first.text_content().split()).casefold() != title, (pid, ld["description"])
    for feed in ("/feed.atom", "/feed.rss"):
        entries = {e.link.rsplit("/", 1)[1]: e for e in feedparser.parse(client.get(feed).data).entries}
        for pid, title in titles.items():
            assert title not in headings(entries[pid].content[0].value), (feed, pid)
        assert headings(entries["c"].content[0].value) == ["about acme"], "a heading of its own stays"
    item = {i["id"]: i for i in json.loads(client.get("/feed.json").data)["items"]}
    assert [headings(i["content_html"]) for i in item.values()].count(["about acme"]) == 1


def test_only_a_leading_h1_or_h2_equal_to_the_title_is_dropped() -> None:
    html = render_markdown("# Senior  **Rust** Developer\n\nWe hire.\n")
    assert drop_title_heading(html, "senior rust developer") == "<p>We hire.</p>\n"
    decomposed = render_markdown("# Cafe\u0301 Manager\n\nText.\n")  # é as e + U+0301, the title as one é
    assert drop_title_heading(decomposed, "Caf\u00e9 manager") == "<p>Text.</p>\n"
    assert drop_title_heading(render_markdown("## R&amp;D Lead\n\nText.\n"), "R&D lead") == "<p>Text.</p>\n"
    kept = [
        ("# About us\n\nText.\n", "Senior"),  # another heading
        ("### Senior\n\nText.\n", "Senior"),  # a heading three levels down is a section, not the title
        ("Intro.\n\n# Senior\n\nText.\n", "Senior"),  # not the first thing
        ("# Senior\n", "Senior"),  # the whole description: kept
        ("# [Senior](https://example.com/team)\n\nText.\n", "Senior"),  # a link the title does not give
    ]
    for markdown, title in kept:
        html = render_markdown(markdown)
        assert drop_title_heading(html, title) == html, markdown
