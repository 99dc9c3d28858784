"""XSS payloads in every front-matter field and in the body never reach a page or JSON-LD executable.

Checked with a real HTML parser (lxml), as a browser would build the DOM: no
script element other than our JSON-LD block, no event-handler attribute, no
``javascript:`` URL, and the JSON-LD block still parses to the values written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import extruct
import pytest
from conftest import write
from lxml import etree
from lxml import html as lxml_html

PAYLOADS = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "<!--<script>alert(1)//-->",
    "javascript:alert(1)",
    "' onmouseover='alert(1)",
    "]]><script>alert(1)</script>",
]
TEXT_FIELDS = ("title", "department", "experience", "education")


def hostile_posting(payload: str) -> str:
    quoted = json.dumps(payload)  # a YAML double-quoted scalar
    return "\n".join(
        [
            "---",
            "id: hostile",
            *(f"{field}: {quoted}" for field in TEXT_FIELDS),
            f"company: {{name: {quoted}, url: {json.dumps('https://x.example/?q=' + payload)}}}",
            f"location: {quoted}",
            f"tags: [{quoted}]",
            f"apply_url: {json.dumps('https://apply.example/job?q=' + payload)}",
            "---",
            "",
            f"Intro {payload}",
            "",
            "<script>alert('body')</script>",
            "",
            '<a href="javascript:alert(1)">click</a> [link](javascript:alert(1)) <div onclick="alert(1)">x</div>',
            "",
        ]
    )


def assert_inert(page: str) -> None:
    doc = lxml_html.fromstring(page)
    scripts = doc.xpath("//script")
    assert all(s.get("type") == "application/ld+json" for s in scripts), [lxml_html.tostring(s) for s in scripts]
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name, value)
            if name.lower() in ("href", "src", "action", "formaction"):
                assert not value.strip().lower().startswith("javascript:"), (element.tag, name, value)
    assert not doc.xpath("//svg|//iframe|//object|//embed")


def feed_contents(client: Any) -> list[str]:
    """Every HTML fragment the feeds carry (entry content and summaries), as text."""
    ns = {"a": "http://www.w3.org/2005/Atom", "content": "http://purl.org/rss/1.0/modules/content/"}
    rss = etree.fromstring(client.get("/feed.rss").data)
    atom = etree.fromstring(client.get("/feed.atom").data)
    feed = json.loads(client.get("/feed.json").data)
    texts = [e.text for e in rss.iterfind("channel/item/content:encoded", ns)]
    texts += [e.text for e in rss.iterfind("channel/item/description", ns)]
    texts += [e.text for e in atom.iterfind("a:entry/a:content", ns)]
    texts += [item["content_html"] for item in feed["items"]]
    assert len(texts) == 4, "one posting: RSS content and description, Atom content, JSON Feed content_html"
    return texts


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_every_field_stay_inert(make_app: Callable[..., Any], postings_dir: Path, payload: str) -> None:
    write(postings_dir, "hostile.md", hostile_posting(payload))
    client = make_app(postings_dir).test_client()
    assert client.get("/api/postings/hostile").status_code == 200, "the posting loaded"
    page = client.get("/jobs/hostile").text
    assert_inert(page)
    assert_inert(client.get("/").text)
    [ld] = extruct.extract(page, syntaxes=["json-ld"])["json-ld"]
    assert ld["title"] == payload, "the JSON-LD keeps the value, escaped, and parses"
    assert ld["hiringOrganization"]["name"] == payload
    assert ld["hiringOrganization"]["sameAs"] == "https://x.example/?q=" + payload
    for html_in_feed in feed_contents(client):  # the HTML a reader renders, unescaped from the feed
        doc = lxml_html.fromstring(f"<div>{html_in_feed}</div>")
        assert not doc.xpath("//script|//*[@onclick]|//*[@onerror]|//*[@onload]"), html_in_feed
        assert not doc.xpath("//a[starts-with(normalize-space(@href), 'javascript')]"), html_in_feed


@pytest.mark.parametrize("field", ["company.url", "apply_url"])
def test_a_javascript_url_is_refused_with_file_field_and_reason(
    make_app: Callable[..., Any], postings_dir: Path, field: str
) -> None:
    text = hostile_posting("x").replace(
        "https://x.example/?q=x" if field == "company.url" else "https://apply.example/job?q=x", "javascript:alert(1)"
    )
    write(postings_dir, "hostile.md", text)
    snapshot = make_app(postings_dir).extensions["syndicate"].loader.snapshot
    assert snapshot.get("hostile") is None
    [problem] = snapshot.errors
    assert (problem.file, problem.field) == ("hostile.md", field)
    assert "http" in problem.message and "javascript:alert(1)" in problem.message
