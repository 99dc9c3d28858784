"""Every feed read by the clients that consume it: feedparser, lxml, a JSON Feed 1.1 check."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import posting_text, reload, write
from lxml import etree

OPEN_SHIPPED = {
    "verdant-grid-data-engineer": "Data Engineer, Grid Forecasting",
    "harbourside-clinical-systems-analyst": "Clinical Systems Analyst",
    "kestrel-robotics-field-service-engineer": "Field Service Engineer – Autonomous Mobile Robots",
    "ledgerly-customer-support-specialist": "Customer Support Specialist (Pacific Hours)",
    "rise-and-crumb-shift-lead": "Part-Time Shift Lead (Early Bake)",
    "rustfoundation-senior-rust-developer": "Senior Rust Developer",
}
BASE = "https://jobs.example"


@pytest.fixture
def shipped(make_app: Callable[..., Any]) -> Any:
    return make_app(base_url=BASE).test_client()


def parsed(client: Any, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.data
    feed = feedparser.parse(response.data, response_headers={"content-type": response.content_type})
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


@pytest.mark.parametrize("path,version", [("/feed.rss", "rss20"), ("/feed.atom", "atom10")])
def test_rss_and_atom_list_every_open_posting_newest_first(shipped: Any, path: str, version: str) -> None:
    feed = parsed(shipped, path)
    assert feed.version == version
    titles = [e.title for e in feed.entries]
    assert sorted(titles) == sorted(OPEN_SHIPPED.values())  # the closed foldline posting is absent
    links = [e.link for e in feed.entries]
    assert f"{BASE}/jobs/verdant-grid-data-engineer" in links
    published = [e.published_parsed for e in feed.entries]
    assert published == sorted(published, reverse=True)
    verdant = next(e for e in feed.entries if e.link.endswith("/verdant-grid-data-engineer"))
    assert verdant.published_parsed[:5] == (2026, 11, 2, 8, 30)  # 09:30+01:00 in UTC
    assert "EUR 70,000–90,000 per year" in verdant.summary
    assert {t.term for t in verdant.tags} == {"python", "data", "climate", "sql", "remote"}
    assert "<h2>About Verdant Grid</h2>" in verdant.content[0].value


def test_rss_guid_is_a_stable_urn_and_says_it_is_no_permalink(shipped: Any) -> None:
    body = shipped.get("/feed.rss").data
    guids = etree.fromstring(body).findall("./channel/item/guid")
    assert len(guids) == len(OPEN_SHIPPED)
    assert all(g.get("isPermaLink") == "false" and g.text.startswith("urn:uuid:") for g in guids)


def test_feeds_advertise_self_and_say_they_are_complete(shipped: Any) -> None:
    atom = etree.fromstring(shipped.get("/feed.atom").data)
    ns = {"a": "http://www.w3.org/2005/Atom", "fh": "http://purl.org/syndication/history/1.0"}
    assert atom.find("a:link[@rel='self']", ns).get("href") == f"{BASE}/feed.atom"
    assert atom.find("fh:complete", ns) is not None
    rss = etree.fromstring(shipped.get("/feed.rss?tag=rust").data)
    assert rss.find("channel/a:link[@rel='self']", ns).get("href") == f"{BASE}/feed.rss?tag=rust"
    assert rss.find("channel/fh:complete", ns) is not None
    assert rss.findtext("channel/link") == f"{BASE}/?tag=rust"
    assert json.loads(shipped.get("/feed.json").data)["feed_url"] == f"{BASE}/feed.json"


def test_websub_hubs_are_in_the_document_and_the_link_header(make_app: Callable[..., Any]) -> None:
    client = make_app(base_url=BASE, websub_hubs=("https://hub.example/",)).test_client()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for path, hub_xpath in (("/feed.atom", "a:link[@rel='hub']"), ("/feed.rss", "channel/a:link[@rel='hub']")):
        response = client.get(path)
        assert etree.fromstring(response.data).find(hub_xpath, ns).get("href") == "https://hub.example/"
        assert '<https://hub.example/>; rel="hub"' in response.headers["Link"]
        assert f'<{BASE}{path}>; rel="self"' in response.headers["Link"]
    answer = client.get("/feed.json")
    assert '<https://hub.example/>; rel="hub"' in answer.headers["Link"], "JSON Feed: in its Link header too"
    assert f'<{BASE}/feed.json>; rel="self"' in answer.headers["Link"]
    feed = json.loads(answer.data)
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]
    assert "Link" not in make_app(base_url=BASE).test_client().get("/feed.atom").headers


def test_json_feed_has_the_spec_fields_and_the_job_extension(shipped: Any) -> None:
    response = shipped.get("/feed.json")
    assert response.content_type == "application/feed+json; charset=utf-8"
    feed = json.loads(response.data)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert feed["home_page_url"] == f"{BASE}/"
    assert {item["id"] for item in feed["items"]} == {
        e.id for e in feedparser.parse(shipped.get("/feed.atom").data).entries
    }, "the same entry id in every format"
    for item in feed["items"]:
        assert isinstance(item["id"], str) and (item.get("content_html") or item.get("content_text"))
        assert item["url"].startswith(f"{BASE}/jobs/")
    harbourside = next(i for i in feed["items"] if i["url"].endswith("/harbourside-clinical-systems-analyst"))
    job = harbourside["_job"]
    assert job["baseSalary"]["value"] == {"@type": "QuantitativeValue", "value": 48500, "unitText": "YEAR"}
    assert job["validThrough"] == "2026-12-15T17:00:00Z"
    assert [loc["address"]["postalCode"] for loc in job["jobLocation"]] == ["BS1 6QA", "BS10 5NB"]
    assert harbourside["date_published"] == "2026-11-09T00:00:00Z"


def test_indeed_xml_lists_every_open_job_in_cdata(shipped: Any) -> None:
    response = shipped.get("/feeds/indeed.xml")
    assert response.content_type == "application/xml; charset=utf-8"
    assert b"<title><![CDATA[Senior Rust Developer]]></title>" in response.data
    root = etree.fromstring(response.data, etree.XMLParser(strip_cdata=False))
    assert root.tag == "source"
    jobs = {job.findtext("referencenumber"): job for job in root.findall("job")}
    assert set(jobs) == set(OPEN_SHIPPED)
    kestrel = jobs["kestrel-robotics-field-service-engineer"]
    assert kestrel.findtext("city") == "Oakland"
    assert kestrel.findtext("postalcode") == "94607"
    assert kestrel.findtext("salary") == "USD 38–52 per hour"
    assert kestrel.findtext("jobtype") == "fulltime"
    assert kestrel.findtext("url") == f"{BASE}/jobs/kestrel-robotics-field-service-engineer"
    assert parsedate_to_datetime(kestrel.findtext("date")).date().isoformat() == "2026-10-14"
    assert jobs["ledgerly-customer-support-specialist"].findtext("remotetype") == "Fully remote"


def test_cdata_survives_a_closing_sequence_in_the_text(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a", title='"Tricky ]]> title"'))
    body = make_app(postings_dir).test_client().get("/feeds/indeed.xml").data
    assert etree.fromstring(body).findtext("job/title") == "Tricky ]]> title"


def test_sitemap_lists_open_postings_with_lastmod_and_robots_points_to_it(shipped: Any) -> None:
    root = etree.fromstring(shipped.get("/sitemap.xml").data)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    entries = {u.findtext("s:loc", namespaces=ns): u.findtext("s:lastmod", namespaces=ns) for u in root}
    companies = {
        "harbourside-general-hospital",
        "kestrel-robotics",
        "ledgerly",
        "rise-crumb-bakehouse",
        "rustfoundation",
        "verdant-grid",
    }  # each employer with an open job has its page (written out: the slug is part of the public URL)
    assert set(entries) == {f"{BASE}/"} | {f"{BASE}/jobs/{pid}" for pid in OPEN_SHIPPED} | {
        f"{BASE}/companies/{slug}" for slug in companies
    }
    assert all(lastmod and lastmod.endswith("Z") for lastmod in entries.values())
    robots = shipped.get("/robots.txt")
    assert robots.content_type == "text/plain; charset=utf-8"
    assert f"Sitemap: {BASE}/sitemap.xml" in robots.text.splitlines()


def test_the_same_postings_render_the_same_bytes_in_every_process(make_app: Callable[..., Any]) -> None:
    first, second = make_app(base_url=BASE).test_client(), make_app(base_url=BASE).test_client()
    for path in ("/feed.rss", "/feed.atom", "/feed.json", "/feeds/indeed.xml", "/sitemap.xml", "/api/postings"):
        a, b = first.get(path), second.get(path)
        assert a.data == b.data, path
        assert a.headers["ETag"] == b.headers["ETag"]
        assert a.headers["Last-Modified"] == b.headers["Last-Modified"]


def test_an_edit_keeps_the_entry_id_and_moves_updated_only_on_change(
    make_app: Callable[..., Any], postings_dir: Path
) -> None:
    path = write(postings_dir, "a.md", posting_text("a", title="Backend Engineer", date_posted="2026-11-01"))
    write(postings_dir, "b.md", posting_text("b", title="Frontend Engineer", date_posted="2026-11-02"))
    app = make_app(postings_dir)
    client = app.test_client()
    before = {e.id: e for e in parsed(client, "/feed.atom").entries}
    path.write_text(posting_text("a", title="Senior Backend Engineer", date_posted="2026-11-01"), encoding="utf-8")
    reload(app)
    after = {e.id: e for e in parsed(client, "/feed.atom").entries}
    assert set(after) == set(before)
    edited = next(i for i, e in after.items() if e.title == "Senior Backend Engineer")
    untouched = next(i for i, e in after.items() if e.title == "Frontend Engineer")
    assert after[edited].updated_parsed > before[edited].updated_parsed
    assert after[untouched].updated == before[untouched].updated
    items = {i["id"]: i for i in json.loads(client.get("/feed.json").data)["items"]}
    assert items[edited]["date_modified"] > items[edited]["date_published"]


def test_feeds_are_paged_per_rfc5005_when_more_postings_match(make_app: Callable[..., Any], postings_dir: Path) -> None:
    for n in range(5):
        write(postings_dir, f"p{n}.md", posting_text(f"p{n}", title=f"Job {n}", date_posted=f"2026-11-0{n + 1}"))
    client = make_app(postings_dir, base_url=BASE, page_size=2).test_client()
    ns = {"a": "http://www.w3.org/2005/Atom", "fh": "http://purl.org/syndication/history/1.0"}
    seen: list[str] = []
    url = f"{BASE}/feed.atom"
    while url:
        root = etree.fromstring(client.get(url.removeprefix(BASE)).data)
        assert root.find("fh:complete", ns) is None, "a paged feed is not complete"
        seen += [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
        following = root.find("a:link[@rel='next']", ns)
        url = following.get("href") if following is not None else None
    assert seen == ["Job 4", "Job 3", "Job 2", "Job 1", "Job 0"]
    assert json.loads(client.get("/feed.json").data)["next_url"] == f"{BASE}/feed.json?page=2"
    rss = etree.fromstring(client.get("/feed.rss?page=2").data)
    assert rss.find("channel/a:link[@rel='next']", ns).get("href") == f"{BASE}/feed.rss?page=3"
    assert rss.find("channel/a:link[@rel='previous']", ns).get("href") == f"{BASE}/feed.rss"
    assert client.get("/feed.rss?page=4").status_code == 404
    assert len(etree.fromstring(client.get("/feeds/indeed.xml").data).findall("job")) == 5, "Indeed is never paged"


def test_a_feed_of_a_generated_thousand_postings_parses(make_app: Callable[..., Any], postings_dir: Path) -> None:
    from bench.generate import generate

    generate(postings_dir, 1000, seed=7)
    client = make_app(postings_dir, page_size=1000).test_client()
    for path in ("/feed.rss", "/feed.atom"):
        assert len(parsed(client, path).entries) == len(json.loads(client.get("/api/postings").data)["postings"])
    assert len(json.loads(client.get("/feed.json").data)["items"]) > 900
    root = etree.fromstring(client.get("/feeds/indeed.xml").data)
    assert len(root.findall("job")) == len(json.loads(client.get("/feed.json").data)["items"])
