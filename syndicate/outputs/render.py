"""Every output as a ``Rendered``: the glue between a catalog epoch, a filter and a renderer.

Pure functions of (catalog, epoch, filter, page, links, site): no request, no
clock. The web module picks the function and caches what it returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from syndicate.model import Posting
from syndicate.outputs import api, feeds, indeed, pages, sitemap
from syndicate.outputs.catalog import Catalog
from syndicate.outputs.filters import Filter, FilterError, parse_filter
from syndicate.outputs.jsonld import job_posting, script_json
from syndicate.outputs.rendered import Rendered
from syndicate.outputs.urls import Links, company_slug

if TYPE_CHECKING:
    from syndicate.settings import Settings

HTML = "text/html; charset=utf-8"
FEED_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "indeed": "application/xml; charset=utf-8",
}
JSON = "application/json"
JSON_LD = "application/ld+json"


@dataclass(frozen=True, slots=True)
class Site:
    """The settings outputs depend on."""

    name: str
    page_size: int
    hubs: tuple[str, ...] = ()
    tz: tzinfo | None = None  # the zone dates are shown in on pages (the posting files' zone)
    language: str = "en"  # the pages' language (SYNDICATE_LANGUAGE): place names, salaries, <html lang>

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        """The site of ``settings``: what the web serves and ``syndicate preview`` shows alike."""
        return cls(settings.site_name, settings.page_size, settings.websub_hubs, settings.tzinfo, settings.language)


class PageNotFound(LookupError):
    """A page number past the last page."""


class CompanyNotFound(PageNotFound):
    """No open posting of that company (an unknown company, or one whose jobs all closed)."""


@dataclass(frozen=True, slots=True)
class Slice:
    items: Sequence[Posting]
    total: int
    page: int
    has_next: bool


def paginate(items: Sequence[Posting], page: int, size: int) -> Slice:
    start = (page - 1) * size
    if page > 1 and start >= len(items):
        raise PageNotFound(f"page {page} is past the last page ({max(1, -(-len(items) // size))})")
    return Slice(items[start : start + size], len(items), page, start + size < len(items))


def describe(flt: Filter) -> str:
    """'tag: rust, remote: 1' — how a filtered feed names itself."""
    return ", ".join(f"{key}: {value}" for key, value in flt.pairs())


def _updated(items: Sequence[Posting], fallback: datetime) -> datetime:
    return max((p.updated for p in items if p.updated), default=fallback)


def hub_links(site: Site, self_url: str) -> tuple[tuple[str, str], ...]:
    """WebSub discovery in the Link header (the document carries the same links)."""
    if not site.hubs:
        return ()
    parts = [f'<{hub}>; rel="hub"' for hub in site.hubs] + [f'<{self_url}>; rel="self"']
    return (("Link", ", ".join(parts)),)


def feed(fmt: str, catalog: Catalog, epoch: int, flt: Filter, page: int, links: Links, site: Site) -> Rendered:
    """RSS, Atom or JSON Feed: the newest ``page_size`` matching postings of page ``page``."""
    matching = flt.select(catalog.live(epoch))
    part = paginate(matching, page, site.page_size)
    last_page = max(1, -(-part.total // site.page_size))
    self_url = links.feed(fmt, flt, page)
    title = f"{site.name} ({describe(flt)})" if not flt.is_empty else site.name
    data = feeds.FeedPage(
        title=title,
        description=f"{site.name}: open positions" + (f" ({describe(flt)})" if not flt.is_empty else ""),
        home_url=links.index(flt),
        self_url=self_url,
        query=f"{fmt}?{flt.query()}",
        entries=[feeds.FeedEntry(p, links.job(p.id)) for p in part.items],
        updated=_updated(part.items, catalog.last_modified(epoch)),
        complete=last_page == 1,
        next_url=links.feed(fmt, flt, page + 1) if part.has_next else None,
        previous_url=links.feed(fmt, flt, page - 1) if page > 1 else None,
        first_url=links.feed(fmt, flt) if last_page > 1 else None,
        hubs=site.hubs,
    )
    render = {"rss": feeds.render_rss, "atom": feeds.render_atom, "json": feeds.render_json_feed}[fmt]
    return Rendered(
        render(data), FEED_CONTENT_TYPES[fmt], catalog.last_modified(epoch), headers=hub_links(site, self_url)
    )


def indeed_feed(catalog: Catalog, epoch: int, flt: Filter, links: Links, site: Site) -> Rendered:
    """Every open posting that matches, never paged."""
    matching = flt.select(catalog.live(epoch))
    body = indeed.render_indeed(
        ((p, links.job(p.id)) for p in matching),
        publisher=site.name,
        publisher_url=links.home,
        updated=catalog.last_modified(epoch),
    )
    return Rendered(body, FEED_CONTENT_TYPES["indeed"], catalog.last_modified(epoch))


def sitemap_xml(catalog: Catalog, epoch: int, links: Links) -> Rendered:
    """The index, every company page and every open posting."""
    live = catalog.live(epoch)
    changed = catalog.last_modified(epoch)
    urls = [
        (links.home, changed),
        *((links.company(slug), changed) for slug in sorted(companies(catalog, epoch))),
        *((links.job(p.id), p.updated) for p in live),
    ]
    return Rendered(sitemap.render_sitemap(urls), "application/xml; charset=utf-8", catalog.last_modified(epoch))


def robots(catalog: Catalog, links: Links) -> Rendered:
    return Rendered(sitemap.render_robots(links.sitemap), "text/plain; charset=utf-8", catalog.changed_at)


def api_list(catalog: Catalog, epoch: int, flt: Filter, page: int, links: Links, site: Site) -> Rendered:
    part = paginate(flt.select(catalog.live(epoch)), page, site.page_size)
    next_url = links.api_list(flt, page + 1) if part.has_next else None
    body = api.render_list(part.items, links, total=part.total, next_url=next_url)
    return Rendered(body, JSON, catalog.last_modified(epoch))


def api_posting(p: Posting, links: Links) -> Rendered:
    return Rendered(api.render_one(p, links), JSON, p.updated)  # type: ignore[arg-type]


def jsonld_document(p: Posting, links: Links) -> Rendered:
    return Rendered(script_json(job_posting(p, links.job(p.id))).encode(), JSON_LD, p.updated)  # type: ignore[arg-type]


def job_page(p: Posting, links: Links, site: Site) -> Rendered:
    script = script_json(job_posting(p, links.job(p.id)))
    html = pages.render_job(
        posting=p, jsonld_script=script, links=links, site_name=site.name, tz=site.tz, language=site.language
    )
    return Rendered(html.encode(), HTML, p.updated)  # type: ignore[arg-type]


def gone_page(p: Posting, links: Links, site: Site) -> Rendered:
    html = pages.render_gone(posting=p, links=links, site_name=site.name, tz=site.tz, language=site.language)
    return Rendered(html.encode(), HTML, p.updated, status=410)  # type: ignore[arg-type]


def error_page(status: int, title: str, message: str, links: Links, site: Site, changed_at: datetime) -> Rendered:
    html = pages.render_error(
        status=status, title=title, message=message, links=links, site_name=site.name, language=site.language
    )
    return Rendered(html.encode(), HTML, changed_at, status=status)


def choices(live: Sequence[Posting]) -> pages.Choices:
    tags = Counter(t for p in live for t in p.tags)
    companies = Counter(p.company.name for p in live)
    types = Counter(t for p in live for t in p.employment_types)
    return pages.Choices(
        tags=sorted(tags.items()),
        companies=sorted(companies.items(), key=lambda kv: kv[0].casefold()),
        types=sorted(types.items()),
    )


def index_page(catalog: Catalog, epoch: int, flt: Filter, page: int, links: Links, site: Site) -> Rendered:
    live = catalog.live(epoch)
    part = paginate(flt.select(live), page, site.page_size)
    offered = catalog.memo(("choices", epoch), lambda: choices(live))  # the same for every filter and page
    pager = pages.Pager(
        number=page,
        total_items=part.total,
        next_url=links.index(flt, page + 1) if part.has_next else None,
        previous_url=links.index(flt, page - 1) if page > 1 else None,
    )
    html = pages.render_index(
        postings=part.items,
        flt=flt,
        choices=offered,
        pager=pager,
        links=links,
        site_name=site.name,
        tz=site.tz,
        language=site.language,
    )
    return Rendered(html.encode(), HTML, catalog.last_modified(epoch))


def companies(catalog: Catalog, epoch: int) -> dict[str, list[Posting]]:
    """Open postings by company slug (``urls.company_slug``), each list newest first; made once per epoch."""

    def group() -> dict[str, list[Posting]]:
        found: dict[str, list[Posting]] = {}
        for p in catalog.live(epoch):
            found.setdefault(company_slug(p.company.name), []).append(p)
        return found

    return catalog.memo(("companies", epoch), group)


def _company_filter(name: str) -> Filter | None:
    """The ``company`` filter of one spelling, as the feeds read it from their query; ``None`` for a name
    the feeds would refuse (over the filter's length, a tab): its feeds are not advertised, the page stands."""
    try:
        return parse_filter({"company": [name]})
    except FilterError:
        return None


def company_page(catalog: Catalog, epoch: int, slug: str, page: int, links: Links, site: Site) -> Rendered:
    """``/companies/<slug>``: the company's open postings, newest first, paged like the index; its feeds
    advertised with the ``company`` filter spelled as the feeds spell it in their ``rel=self``."""
    listed = companies(catalog, epoch).get(slug)
    if not listed:
        raise CompanyNotFound(f"no company {slug!r} has open positions")
    part = paginate(listed, page, site.page_size)
    newest = listed[0].company
    spellings = dict.fromkeys(p.company.name for p in listed)  # 'Acme Inc' and 'ACME, Inc.' share a page
    filters = list({f.company: f for f in (_company_filter(name) for name in spellings) if f}.values())
    company = pages.Company(
        name=newest.name,
        slug=slug,
        url=next((p.company.url for p in listed if p.company.url), None),
        logo=next((p.company.logo for p in listed if p.company.logo), None),
        postings=part.items,
        filters=filters,
    )
    pager = pages.Pager(
        number=page,
        total_items=part.total,
        next_url=links.company(slug, page + 1) if part.has_next else None,
        previous_url=links.company(slug, page - 1) if page > 1 else None,
    )
    html = pages.render_company(
        company=company, pager=pager, links=links, site_name=site.name, tz=site.tz, language=site.language
    )
    return Rendered(html.encode(), HTML, catalog.last_modified(epoch))
