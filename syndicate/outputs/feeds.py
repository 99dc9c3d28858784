"""RSS 2.0 and Atom 1.0 (through feedgen) and JSON Feed 1.1: pure functions of one ``FeedPage``.

Deterministic: the feed's ``updated`` is the newest entry's last real change
(from the store), never the time of rendering; entries keep the order given
(feedgen prepends by default); ids are URNs derived from the posting id alone,
so neither an edit nor a new host name makes a reader see a new item.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from syndicate.model import Posting
from syndicate.outputs import present
from syndicate.outputs.jsonld import job_posting

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
_ID_NAMESPACE = uuid.UUID("5b0c3f0e-7d7b-4c55-9d0c-2f1d43a1c6a7")  # fixed forever: ids derive from it

# XML 1.0 forbids these characters; lxml refuses them, so text is cleaned before it gets there.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def entry_id(posting_id: str) -> str:
    """The permanent id of a posting's entry in every feed: the same for every edit and host."""
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, 'posting:' + posting_id)}"


def feed_id(query: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, 'feed:' + query)}"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    posting: Posting
    url: str  # the posting's HTML page


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of one feed: everything a renderer needs, nothing it has to look up."""

    title: str
    description: str
    home_url: str  # the HTML index this feed mirrors
    self_url: str
    query: str  # canonical filter query: names the feed for its id
    entries: Sequence[FeedEntry]
    updated: datetime  # newest change among the entries, or the snapshot's when there are none
    complete: bool  # the page holds every matching posting (RFC 5005 fh:complete)
    next_url: str | None = None
    previous_url: str | None = None
    first_url: str | None = None
    hubs: Sequence[str] = ()


def entry_summary(p: Posting) -> str:
    """One line for readers that show summaries: company, place, type, pay."""
    parts = [p.company.name, present.where_text(p), present.employment_text(p), present.salary_text(p.salary)]
    return " · ".join(part for part in parts if part)


def _links(page: FeedPage) -> list[tuple[str, str]]:
    links = [("self", page.self_url)]
    links.extend(("hub", hub) for hub in page.hubs)
    for rel, url in (("first", page.first_url), ("previous", page.previous_url), ("next", page.next_url)):
        if url:
            links.append((rel, url))
    return links


class _History(BaseExtension):
    """RFC 5005 ``fh:complete`` and the atom:link elements feedgen's RSS leaves out (hub, paging)."""

    def __init__(self) -> None:
        self.complete = False
        self.rss_links: list[tuple[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS}

    def _complete(self, parent: etree._Element) -> None:
        if self.complete:
            etree.SubElement(parent, f"{{{HISTORY_NS}}}complete")

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._complete(feed)
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        for rel, href in self.rss_links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel=rel, href=href)
        self._complete(channel)
        return feed


def _to_the_second(value: datetime | None) -> datetime | None:
    """feedgen writes Atom dates with any fraction they have: every output shows whole seconds (a file
    may give ``date_posted: 2026-11-02T08:30:00.5Z``; the store keeps its own times whole)."""
    return value.replace(microsecond=0) if value is not None else None


def _author(p: Posting, uri_key: str) -> dict[str, str]:
    author = {"name": xml_text(p.company.name)}
    if p.company.url:
        author[uri_key] = p.company.url
    return author


def _generator(page: FeedPage, *, rss: bool) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(feed_id(page.query))
    fg.title(xml_text(page.title))
    fg.description(xml_text(page.description))
    fg.language("en")
    fg.generator("syndicate")
    if rss:
        fg.link(href=page.self_url, rel="self", type="application/rss+xml")
        fg.link(href=page.home_url, rel="alternate")  # RSS's <link> is the last one given
    else:
        fg.link(href=page.home_url, rel="alternate", type="text/html")
        for rel, href in _links(page):
            kind = {} if rel == "hub" else {"type": "application/atom+xml"}
            fg.link(href=href, rel=rel, **kind)
    fg.updated(_to_the_second(page.updated))  # also RSS lastBuildDate: never "now"
    fg.register_extension("history", _History, None, atom=True, rss=True)
    fg.history.complete = page.complete
    fg.history.rss_links = [(rel, href) for rel, href in _links(page) if rel != "self"] if rss else []
    for item in page.entries:
        p = item.posting
        fe = fg.add_entry(order="append")
        fe.id(entry_id(p.id))
        fe.guid(entry_id(p.id), permalink=False)
        fe.title(xml_text(p.title))
        fe.link(href=item.url, rel="alternate", type="text/html")
        fe.author(_author(p, uri_key="uri"))
        fe.published(_to_the_second(p.date_posted))
        fe.updated(_to_the_second(p.updated))
        summary = xml_text(entry_summary(p))
        # RSS readers render <description> as HTML, so plain text is escaped for it; Atom's
        # <summary> is type="text" and JSON Feed's summary is plain text by their specs
        fe.summary(html.escape(summary, quote=False) if rss else summary)
        fe.content(xml_text(p.description_html), type="html")
        for tag in p.tags:
            fe.category(term=xml_text(tag), label=xml_text(tag))
    return fg


def render_rss(page: FeedPage) -> bytes:
    return _generator(page, rss=True).rss_str(pretty=True, encoding="UTF-8")


def render_atom(page: FeedPage) -> bytes:
    return _generator(page, rss=False).atom_str(pretty=True, encoding="UTF-8")


def job_extension(p: Posting, url: str) -> dict[str, Any]:
    """The ``_job`` object of a JSON Feed item: the posting's JobPosting fields, as in the JSON-LD."""
    data = job_posting(p, url, description=False)  # the item's content_html carries it
    data.pop("@context", None)
    return data


def json_feed(page: FeedPage) -> dict[str, Any]:
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": page.title,
        "home_page_url": page.home_url,
        "feed_url": page.self_url,
        "description": page.description,
        "language": "en",
    }
    if page.next_url:
        feed["next_url"] = page.next_url
    if page.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in page.hubs]
    feed["items"] = [
        {
            "id": entry_id(item.posting.id),
            "url": item.url,
            "title": item.posting.title,
            "summary": entry_summary(item.posting),
            "content_html": item.posting.description_html,
            "date_published": present.iso_text(item.posting.date_posted),
            "date_modified": present.iso_text(item.posting.updated),
            "authors": [_author(item.posting, uri_key="url")],
            "tags": list(item.posting.tags),
            "_job": job_extension(item.posting, item.url),
        }
        for item in page.entries
    ]
    return feed


def render_json_feed(page: FeedPage) -> bytes:
    return json.dumps(json_feed(page), ensure_ascii=False, indent=1).encode()
