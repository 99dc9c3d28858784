"""The HTTP interface through Flask's client: filters, paging, status codes, expiry, caching headers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import Clock, posting_text, reload, write

FEEDS = ("/feed.rss", "/feed.atom", "/feed.json", "/feeds/indeed.xml", "/api/postings", "/")


def ids_in(client: Any, query: str) -> set[str]:
    response = client.get(f"/api/postings{query}")
    assert response.status_code == 200, response.data
    return {p["id"] for p in json.loads(response.data)["postings"]}


def feed_titles(client: Any, path: str) -> set[str]:
    return {e.title for e in feedparser.parse(client.get(path).data).entries}


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,expected",
    [
        ("?tag=sql", {"verdant-grid-data-engineer", "harbourside-clinical-systems-analyst"}),
        (
            "?tag=SQL&tag=rust",
            {
                "verdant-grid-data-engineer",
                "harbourside-clinical-systems-analyst",
                "rustfoundation-senior-rust-developer",
            },
        ),
        ("?remote=only", {"verdant-grid-data-engineer", "ledgerly-customer-support-specialist"}),
        (
            "?remote=1",
            {
                "verdant-grid-data-engineer",
                "ledgerly-customer-support-specialist",
                "harbourside-clinical-systems-analyst",
            },
        ),
        (
            "?remote=0",
            {
                "kestrel-robotics-field-service-engineer",
                "rise-and-crumb-shift-lead",
                "rustfoundation-senior-rust-developer",
            },
        ),
        ("?type=part-time", {"rise-and-crumb-shift-lead", "harbourside-clinical-systems-analyst"}),
        ("?company=kestrel%20robotics", {"kestrel-robotics-field-service-engineer"}),
        ("?location=bristol", {"harbourside-clinical-systems-analyst"}),
        ("?location=US-CA", {"ledgerly-customer-support-specialist"}),
        ("?q=heat%20pumps", {"verdant-grid-data-engineer"}),
        ("?q=tokio&remote=0", {"rustfoundation-senior-rust-developer"}),
        ("?tag=sql&remote=only", {"verdant-grid-data-engineer"}),
        ("?tag=haskell", set()),
    ],
)
def test_filters_select_postings(client: Any, query: str, expected: set[str]) -> None:
    assert ids_in(client, query) == expected


def test_every_feed_applies_the_filter(client: Any) -> None:
    assert feed_titles(client, "/feed.atom?remote=only") == {
        "Data Engineer, Grid Forecasting",
        "Customer Support Specialist (Pacific Hours)",
    }
    assert feed_titles(client, "/feed.rss?tag=rust") == {"Senior Rust Developer"}
    items = json.loads(client.get("/feed.json?type=PART_TIME").data)["items"]
    assert {i["title"] for i in items} == {"Part-Time Shift Lead (Early Bake)", "Clinical Systems Analyst"}
    assert client.get("/feeds/indeed.xml?company=ledgerly").data.count(b"<job>") == 1
    page = client.get("/?tag=bakery").text
    assert "Part-Time Shift Lead (Early Bake)" in page and "Senior Rust Developer" not in page


@pytest.mark.parametrize(
    "query,words",
    [
        ("?remote=maybe", "'remote' must be"),
        ("?type=gig", "'type' must be one of"),
        ("?tags=rust", "unknown parameter 'tags'"),
        ("?page=0", "'page' must be"),
        ("?page=two", "'page' must be"),
        ("?remote=1&remote=0", "'remote' may be given once"),
        ("?q=" + "x" * 300, "longer than"),
        ("?company=%01", "control character"),
    ],
)
@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom", "/feed.json", "/feeds/indeed.xml", "/api/postings"])
def test_a_bad_filter_is_a_400_that_says_why(client: Any, path: str, query: str, words: str) -> None:
    response = client.get(path + query)
    assert response.status_code == 400
    assert words in response.text
    if path == "/api/postings":
        assert json.loads(response.data)["error"]


def test_the_index_ignores_tracking_parameters_but_not_bad_values(client: Any) -> None:
    assert client.get("/?utm_source=newsletter").status_code == 200
    response = client.get("/?remote=maybe")
    assert response.status_code == 400 and "remote" in response.text
    assert client.get("/?tag=&q=&remote=").status_code == 200, "an HTML form sends empty fields"


def test_one_filter_is_one_cache_entry_whatever_its_spelling(make_app: Callable[..., Any]) -> None:
    app = make_app()
    client = app.test_client()
    cache = app.extensions["syndicate.web"].cache
    first = client.get("/feed.atom?remote=only&tag=sql")
    entries = len(cache)
    for spelling in ("?tag=SQL&remote=only", "?remote=ONLY&tag=sql&tag=sql", "?tag=%20sql&remote=only"):
        again = client.get("/feed.atom" + spelling)
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert len(cache) == entries
    assert cache.hits >= 3


# --- paging and single postings ------------------------------------------------------------


def test_the_api_pages_with_next_links(make_app: Callable[..., Any], postings_dir: Path) -> None:
    for n in range(5):
        write(postings_dir, f"p{n}.md", posting_text(f"p{n}", date_posted=f"2026-11-0{n + 1}"))
    client = make_app(postings_dir, page_size=2, base_url="https://jobs.example").test_client()
    seen, url, pages = [], "/api/postings", 0
    while url:
        body = json.loads(client.get(url).data)
        assert body["total"] == 5
        seen += [p["id"] for p in body["postings"]]
        url = body["next"] and body["next"].removeprefix("https://jobs.example")
        pages += 1
    assert seen == ["p4", "p3", "p2", "p1", "p0"] and pages == 3


def test_one_posting_in_the_api_has_the_file_field_names(client: Any) -> None:
    body = json.loads(client.get("/api/postings/verdant-grid-data-engineer").data)
    assert body["title"] == "Data Engineer, Grid Forecasting"
    assert body["remote"] == "only"
    assert body["applicant_locations"] == ["DE", "AT", "CH"]
    assert body["salary"] == {"min": 70000, "max": 90000, "currency": "EUR", "per": "YEAR"}
    assert body["employment_type"] == ["FULL_TIME"]
    assert body["valid_through"] == "2027-03-31T23:59:59Z"
    assert body["company"]["name"] == "Verdant Grid"


@pytest.mark.parametrize("suffix", ["", ".jsonld"])
def test_closed_postings_are_gone_and_unknown_ones_not_found(client: Any, suffix: str) -> None:
    gone = client.get(f"/jobs/foldline-ux-designer-2026q4{suffix}")
    assert gone.status_code == 410
    assert b"application/ld+json" not in gone.data and b'"@type"' not in gone.data
    assert client.get(f"/jobs/no-such-job{suffix}").status_code == 404
    assert client.get("/api/postings/foldline-ux-designer-2026q4").status_code == 410
    assert "foldline-ux-designer-2026q4" not in ids_in(client, "")


def test_drafts_are_not_found_anywhere(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "d.md", posting_text("d", title="Secret Role", status="draft"))
    write(postings_dir, "o.md", posting_text("o", title="Public Role"))
    client = make_app(postings_dir).test_client()
    for path in ("/jobs/d", "/jobs/d.jsonld", "/api/postings/d"):
        assert client.get(path).status_code == 404
    for path in (*FEEDS, "/sitemap.xml"):
        body = client.get(path).data
        assert b"Public Role" in body or b"/jobs/o" in body, path
        assert b"Secret Role" not in body and b"/jobs/d" not in body, path


# --- expiry -------------------------------------------------------------------------------


def test_a_posting_disappears_everywhere_the_moment_it_expires(
    make_app: Callable[..., Any], postings_dir: Path, web_clock: Clock
) -> None:
    write(postings_dir, "soon.md", posting_text("soon", title="Expiring Role", valid_through="2026-11-28T09:00:30Z"))
    write(postings_dir, "stay.md", posting_text("stay", title="Lasting Role"))
    client = make_app(postings_dir).test_client()
    paths = (*FEEDS, "/sitemap.xml")
    before = {path: client.get(path) for path in paths}
    assert all(b"Expiring Role" in r.data or b"/jobs/soon" in r.data for r in before.values())
    assert client.get("/feed.atom").headers["Cache-Control"] == "public, max-age=30", "no cache outlives the expiry"
    web_clock.advance(seconds=30)  # exactly valid_through: still open
    assert client.get("/jobs/soon").status_code == 200
    web_clock.advance(microseconds=1)
    for path in paths:
        after = client.get(path)
        assert b"Expiring Role" not in after.data and b"/jobs/soon" not in after.data, path
        assert b"Lasting Role" in after.data or b"/jobs/stay" in after.data, path
        assert after.headers["ETag"] != before[path].headers["ETag"]
        # a client holding the old copy gets the new one, by ETag and by date
        assert client.get(path, headers={"If-None-Match": before[path].headers["ETag"]}).status_code == 200, path
        validators = {"If-Modified-Since": before[path].headers["Last-Modified"]}
        assert client.get(path, headers=validators).status_code == 200, path
    assert client.get("/jobs/soon").status_code == 410
    assert client.get("/jobs/soon.jsonld").status_code == 410


# --- conditional GET and compression ------------------------------------------------------


def status(client: Any, path: str, headers: dict[str, str]) -> int:
    response = client.get(path, headers=headers)
    response.close()
    return response.status_code


@pytest.mark.parametrize(
    "path",
    [
        *FEEDS,
        "/sitemap.xml",
        "/robots.txt",
        "/jobs/verdant-grid-data-engineer",
        "/jobs/verdant-grid-data-engineer.jsonld",
        "/api/postings/verdant-grid-data-engineer",
        "/static/style.css",
    ],
)
def test_every_get_answers_conditional_requests(client: Any, path: str) -> None:
    first = client.get(path)
    first.close()  # static files are served from an open file
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert not etag.startswith("W/"), "strong validators"
    assert status(client, path, {"If-None-Match": etag}) == 304
    assert status(client, path, {"If-None-Match": f'"other", {etag}'}) == 304
    assert status(client, path, {"If-Modified-Since": modified}) == 304
    earlier = format_datetime(parsedate_to_datetime(modified).replace(year=2000), usegmt=True)
    assert status(client, path, {"If-Modified-Since": earlier}) == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    assert status(client, path, {"If-None-Match": '"other"', "If-Modified-Since": modified}) == 200
    assert "max-age=" in first.headers["Cache-Control"]


def test_gzip_when_accepted_with_its_own_etag(client: Any) -> None:
    plain = client.get("/feed.atom")
    zipped = client.get("/feed.atom", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in client.get("/feed.atom", headers={"Accept-Encoding": "gzip;q=0"}).headers
    again = client.get("/feed.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path,content_type",
    [
        ("/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/feeds/indeed.xml", "application/xml; charset=utf-8"),
        ("/sitemap.xml", "application/xml; charset=utf-8"),
        ("/robots.txt", "text/plain; charset=utf-8"),
        ("/api/postings", "application/json"),
        ("/jobs/verdant-grid-data-engineer", "text/html; charset=utf-8"),
        ("/jobs/verdant-grid-data-engineer.jsonld", "application/ld+json"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_content_types(client: Any, path: str, content_type: str) -> None:
    assert client.get(path).headers["Content-Type"] == content_type


def test_a_repeated_request_renders_nothing(make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_app().test_client()
    client.get("/feed.rss")
    client.get("/jobs/verdant-grid-data-engineer")

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr("syndicate.outputs.feeds.render_rss", fail)
    monkeypatch.setattr("syndicate.outputs.pages.render_job", fail)
    assert client.get("/feed.rss").status_code == 200
    assert client.get("/jobs/verdant-grid-data-engineer").status_code == 200


def test_a_changed_posting_changes_its_outputs(make_app: Callable[..., Any], postings_dir: Path) -> None:
    path = write(postings_dir, "a.md", posting_text("a", title="Backend Engineer"))
    app = make_app(postings_dir)
    client = app.test_client()
    old = client.get("/jobs/a")
    path.write_text(posting_text("a", title="Platform Engineer"), encoding="utf-8")
    reload(app)
    new = client.get("/jobs/a", headers={"If-None-Match": old.headers["ETag"]})
    assert new.status_code == 200 and "Platform Engineer" in new.text


def test_metrics_count_render_cache_hits_and_misses(client: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def samples() -> dict[str, float]:
        text = client.get("/metrics").text
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

    before = samples()
    client.get("/feed.rss?tag=rust")
    client.get("/feed.rss?tag=rust")
    after = samples()
    assert after["syndicate_render_cache_misses_total"] == before["syndicate_render_cache_misses_total"] + 1
    assert after["syndicate_render_cache_hits_total"] == before["syndicate_render_cache_hits_total"] + 1
    assert after["syndicate_render_cache_bytes"] > before["syndicate_render_cache_bytes"]


def test_location_matches_whole_words(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "camden.md", posting_text("camden", location="Camden, London"))
    write(postings_dir, "berlin.md", posting_text("berlin", location="{city: Berlin, country: DE}"))
    client = make_app(postings_dir).test_client()
    assert ids_in(client, "?location=de") == {"berlin"}
    assert ids_in(client, "?location=camden") == {"camden"}
    assert ids_in(client, "?location=london") == {"camden"}


def test_a_job_page_has_one_h1_and_the_description_headings_below_it(client: Any) -> None:
    from lxml import html

    page = html.fromstring(client.get("/jobs/rustfoundation-senior-rust-developer").text)
    assert [h.text_content().strip() for h in page.xpath("//h1")] == ["Senior Rust Developer"]
    assert "About the Role" in [h.text_content().strip() for h in page.xpath("//h3")]


# --- Last-Modified never lies to a client that sends only If-Modified-Since -------------------


def ims_status(client: Any, path: str, last_modified: str) -> int:
    return client.get(path, headers={"If-Modified-Since": last_modified}).status_code


def test_a_reverted_edit_still_counts_as_a_change(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a"))
    app = make_app(postings_dir)
    client = app.test_client()
    first = client.get("/feed.atom")
    extra = write(postings_dir, "b.md", posting_text("b", title="Temporary Role"))
    reload(app)
    second = client.get("/feed.atom")
    assert b"Temporary Role" in second.data
    extra.unlink()  # back to the first set of postings: the same bytes as before
    reload(app)
    third = client.get("/feed.atom")
    assert third.data == first.data
    assert parsedate_to_datetime(third.headers["Last-Modified"]) > parsedate_to_datetime(
        second.headers["Last-Modified"]
    )
    assert ims_status(client, "/feed.atom", second.headers["Last-Modified"]) == 200


def test_two_changes_in_one_second_have_different_dates(make_app: Callable[..., Any], postings_dir: Path) -> None:
    path = write(postings_dir, "a.md", posting_text("a", title="First Title"))
    app = make_app(postings_dir)
    client = app.test_client()
    before = {p: client.get(p) for p in ("/feed.rss", "/jobs/a")}
    path.write_text(posting_text("a", title="Second Title"), encoding="utf-8")  # well within the same second
    reload(app)
    for p, old in before.items():
        new = client.get(p)
        assert b"Second Title" in new.data
        assert new.headers["Last-Modified"] != old.headers["Last-Modified"], p
        assert ims_status(client, p, old.headers["Last-Modified"]) == 200, p


def test_a_future_date_posted_does_not_date_the_outputs_in_the_future(
    make_app: Callable[..., Any], postings_dir: Path
) -> None:
    path = write(postings_dir, "a.md", posting_text("a", title="Early Bird", date_posted="2027-06-01"))
    app = make_app(postings_dir)
    client = app.test_client()
    response = client.get("/jobs/a")
    assert parsedate_to_datetime(response.headers["Last-Modified"]).year == 2026
    path.write_text(posting_text("a", title="Early Bird, edited", date_posted="2027-06-01"), encoding="utf-8")
    reload(app)
    assert ims_status(client, "/jobs/a", response.headers["Last-Modified"]) == 200
    assert json.loads(client.get("/api/postings/a").data)["updated"].startswith("2026-")


def test_with_the_database_down_last_modified_does_not_go_back(
    make_app: Callable[..., Any], postings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(postings_dir, "a.md", posting_text("a", date_posted="2026-01-01"))
    extra = write(postings_dir, "c.md", posting_text("c", title="Brief Role", date_posted="2026-01-02"))
    app = make_app(postings_dir)
    client = app.test_client()
    served = client.get("/feed.atom")

    def down(*_args: Any) -> None:
        raise OSError("database unavailable")

    monkeypatch.setattr(app.extensions["syndicate"].store, "version_seen", down)
    extra.unlink()
    reload(app)
    after = client.get("/feed.atom")
    assert b"Brief Role" not in after.data
    assert ims_status(client, "/feed.atom", served.headers["Last-Modified"]) == 200


def test_tags_match_however_they_are_cased_or_written(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a", tags="[Straße, ＤＡＴＡ]"))
    client = make_app(postings_dir).test_client()
    for query in ("?tag=straße", "?tag=STRASSE", "?tag=data", "?tag=%EF%BC%A4ata"):
        assert ids_in(client, query) == {"a"}, query


def test_pages_show_dates_in_the_zone_the_files_are_written_in(
    make_app: Callable[..., Any], postings_dir: Path
) -> None:
    write(postings_dir, "a.md", posting_text("a", date_posted="2026-11-01", valid_through="2026-12-15"))
    client = make_app(postings_dir, timezone="Pacific/Auckland").test_client()
    page = client.get("/jobs/a").text
    assert "1 November 2026" in page and "15 December 2026" in page
    assert "31 October 2026" not in page
    assert "1 November 2026" in client.get("/").text


def test_every_part_of_the_app_reads_the_one_clock(make_app: Callable[..., Any], postings_dir: Path) -> None:
    """Loader dates, Last-Modified, health and expiry all come from the clock handed to create_app,
    so a test's moment and the app's never disagree, whatever the calendar says when the suite runs."""
    from datetime import UTC, datetime

    moment = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    clock = Clock(moment)
    write(postings_dir, "a.md", posting_text("a", valid_through="2031-05-04T03:02:30Z"))
    client = make_app(postings_dir, clock=clock).test_client()
    assert json.loads(client.get("/api/postings/a").data)["date_posted"] == "2031-05-04T03:02:01Z"
    assert parsedate_to_datetime(client.get("/feed.atom").headers["Last-Modified"]) == moment
    assert client.get("/healthz").get_json()["postings"]["loaded_at"] == moment.isoformat()
    clock.advance(seconds=29)
    assert client.get("/jobs/a").status_code == 200
    clock.advance(seconds=1, microseconds=1)
    assert client.get("/jobs/a").status_code == 410, "expiry is decided by the same clock"


def refreshing_app(postings_dir: Path, database_url: str, tmp_path: Path) -> tuple[Any, Any, Any]:
    """An app over one posting whose refresher thread runs (every 0.05 s) and counts 0.3 s as a stall."""
    from conftest import migrate

    from syndicate.web.app import create_app

    write(postings_dir, "a.md", posting_text("a"))
    migrate(database_url)
    settings = {"postings_dir": postings_dir, "database_url": database_url, "instance_dir": tmp_path / "i"}
    app = create_app({**settings, "reload_interval": 0.05}, autoreload=True)
    svc, state = app.extensions["syndicate"], app.extensions["syndicate.web"]
    state.stalled_after = 0.3
    return app, svc, state


def test_a_process_idle_before_its_first_request_is_not_called_stalled(
    postings_dir: Path, database_url: str, tmp_path: Path
) -> None:
    """A gunicorn worker may wait minutes for its first request; its refresher starts then, and has
    not stalled."""
    import time

    app, svc, state = refreshing_app(postings_dir, database_url, tmp_path)
    try:
        time.sleep(0.6)  # idle, longer than a stall, before anyone asks
        body = app.test_client().get("/healthz").get_json()
        assert body["status"] == "ok", body
        assert "refresher_stalled_seconds" not in body
    finally:
        state.stop()
        svc.close()


def test_healthz_says_when_the_refresher_is_stuck(postings_dir: Path, database_url: str, tmp_path: Path) -> None:
    """A refresher round that never finishes (a call that hangs where no timeout reaches) is reported,
    not hidden behind the last good answer."""
    import threading
    import time

    app, svc, state = refreshing_app(postings_dir, database_url, tmp_path)
    stuck = threading.Event()
    served = svc.loader.snapshot

    def hanging_refresh():  # type: ignore[no-untyped-def]
        stuck.wait()
        return served

    svc.loader.refresh = hanging_refresh
    try:
        client = app.test_client()
        assert client.get("/healthz").get_json()["status"] == "ok"  # starts the refresher, which then hangs
        time.sleep(0.8)
        body = client.get("/healthz").get_json()
        # stuck since the refresher started (about 0.8 s): reported in whole seconds, so 1 or more
        assert body["status"] == "degraded" and body["refresher_stalled_seconds"] >= 1
        assert client.get("/feed.atom").status_code == 200, "and every output still answers"
    finally:
        state.stop()
        stuck.set()
        svc.close()


def test_the_first_request_of_a_process_sees_the_files_as_they_are_now(
    postings_dir: Path, database_url: str, tmp_path: Path
) -> None:
    """A gunicorn worker forked at boot and idle since must not answer from the files as they were at
    boot (a WebSub hub fetches a feed right after a change, from whichever worker it reaches)."""
    from conftest import migrate

    from syndicate.web.app import create_app

    write(postings_dir, "a.md", posting_text("a"))
    migrate(database_url)
    settings = {"postings_dir": postings_dir, "database_url": database_url, "instance_dir": tmp_path / "i"}
    app = create_app({**settings, "reload_interval": 3600.0}, autoreload=True)  # no refresher round comes
    svc, state = app.extensions["syndicate"], app.extensions["syndicate.web"]
    try:
        write(postings_dir, "b.md", posting_text("b", title="Written after boot"))
        assert app.test_client().get("/jobs/b").status_code == 200
    finally:
        state.stop()
        svc.close()
