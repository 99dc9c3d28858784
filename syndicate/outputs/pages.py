"""HTML pages from Jinja templates: the index, one page per posting, one per company, and error pages.

Pure: each function takes plain data and returns the page as text. The Jinja
environment is built once, autoescapes everything, and knows the wording
helpers of ``present`` as filters; each page gets ``words``, the wording of the
site's language (``SYNDICATE_LANGUAGE``), and ``lang``, its BCP 47 tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from syndicate.model import Posting
from syndicate.outputs import present
from syndicate.outputs.filters import Filter, fold
from syndicate.outputs.urls import Links, company_slug

STATIC = Path(__file__).with_name("static")  # served by the web layer at /static/

FEED_TYPES = {
    "rss": ("application/rss+xml", "RSS"),
    "atom": ("application/atom+xml", "Atom"),
    "json": ("application/feed+json", "JSON Feed"),
}


@dataclass(frozen=True, slots=True)
class Choices:
    """What the index's filter controls offer: values present among open postings, with counts."""

    tags: Sequence[tuple[str, int]]
    companies: Sequence[tuple[str, int]]
    types: Sequence[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Company:
    """A company's page: its name and links (from its newest posting), its open postings, its feeds' filters."""

    name: str
    slug: str
    url: str | None
    logo: str | None
    postings: Sequence[Posting]
    filters: Sequence[Filter]  # one ``company=`` filter per spelling of the name (almost always one)


@dataclass(frozen=True, slots=True)
class Pager:
    number: int
    total_items: int
    next_url: str | None
    previous_url: str | None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("syndicate.outputs", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name in ("employment_text", "date_text", "iso_text", "page_description", "initials", "initials_colour"):
        env.filters[name] = getattr(present, name)
    env.filters["fold"] = fold
    env.filters["company_slug"] = company_slug
    env.globals["EMPLOYMENT_WORDS"] = present.EMPLOYMENT_WORDS
    env.globals["FEED_TYPES"] = FEED_TYPES
    env.globals["FEED_FORMATS"] = tuple(FEED_TYPES)
    return env


_ENV = _environment()


def _page(template: str, language: str, **values: object) -> str:
    return _ENV.get_template(template).render(lang=language, words=present.words(language), **values)


def render_index(
    *,
    postings: Sequence[Posting],
    flt: Filter,
    choices: Choices,
    pager: Pager,
    links: Links,
    site_name: str,
    tz: tzinfo | None = None,
    language: str = "en",
) -> str:
    """The list of open postings matching ``flt``, newest first, with filter controls and feed links."""
    return _page(
        "index.html",
        language,
        postings=postings,
        flt=flt,
        choices=choices,
        pager=pager,
        links=links,
        site_name=site_name,
        tz=tz,
    )


def render_job(
    *,
    posting: Posting,
    jsonld_script: str,
    links: Links,
    site_name: str,
    tz: tzinfo | None = None,
    language: str = "en",
) -> str:
    """One open posting in full, dates in ``tz``. ``jsonld_script`` is JSON already escaped for <script>."""
    return _page(
        "job.html", language, posting=posting, jsonld=Markup(jsonld_script), links=links, site_name=site_name, tz=tz
    )


def render_company(
    *, company: Company, pager: Pager, links: Links, site_name: str, tz: tzinfo | None = None, language: str = "en"
) -> str:
    """A company's open postings, newest first, with its filtered feeds advertised."""
    return _page("company.html", language, company=company, pager=pager, links=links, site_name=site_name, tz=tz)


def render_gone(
    *, posting: Posting, links: Links, site_name: str, tz: tzinfo | None = None, language: str = "en"
) -> str:
    """The 410 page of a closed or expired posting: what it was, and no JSON-LD."""
    return _page("gone.html", language, posting=posting, links=links, site_name=site_name, tz=tz)


def render_error(*, status: int, title: str, message: str, links: Links, site_name: str, language: str = "en") -> str:
    """400 and 404 pages."""
    return _page("error.html", language, status=status, title=title, message=message, links=links, site_name=site_name)
