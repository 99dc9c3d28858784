"""HTML pages from Jinja templates: the index, one page per posting, and error pages.

Pure: each function takes plain data and returns the page as text. The Jinja
environment is built once, autoescapes everything, and knows the wording
helpers of ``present`` as filters.
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
from syndicate.outputs.urls import Links

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
    for name in (
        "address_text",
        "place_text",
        "locations_text",
        "remote_text",
        "where_text",
        "employment_text",
        "salary_text",
        "date_text",
        "iso_text",
        "page_description",
    ):
        env.filters[name] = getattr(present, name)
    env.filters["fold"] = fold
    env.globals["EMPLOYMENT_WORDS"] = present.EMPLOYMENT_WORDS
    env.globals["FEED_TYPES"] = FEED_TYPES
    env.globals["FEED_FORMATS"] = tuple(FEED_TYPES)
    return env


_ENV = _environment()


def render_index(
    *,
    postings: Sequence[Posting],
    flt: Filter,
    choices: Choices,
    pager: Pager,
    links: Links,
    site_name: str,
    tz: tzinfo | None = None,
) -> str:
    """The list of open postings matching ``flt``, newest first, with filter controls and feed links."""
    return _ENV.get_template("index.html").render(
        postings=postings, flt=flt, choices=choices, pager=pager, links=links, site_name=site_name, tz=tz
    )


def render_job(*, posting: Posting, jsonld_script: str, links: Links, site_name: str, tz: tzinfo | None = None) -> str:
    """One open posting in full, dates in ``tz``. ``jsonld_script`` is JSON already escaped for <script>."""
    return _ENV.get_template("job.html").render(
        posting=posting, jsonld=Markup(jsonld_script), links=links, site_name=site_name, tz=tz
    )


def render_gone(*, posting: Posting, links: Links, site_name: str, tz: tzinfo | None = None) -> str:
    """The 410 page of a closed or expired posting: what it was, and no JSON-LD."""
    return _ENV.get_template("gone.html").render(posting=posting, links=links, site_name=site_name, tz=tz)


def render_error(*, status: int, title: str, message: str, links: Links, site_name: str) -> str:
    """400 and 404 pages."""
    return _ENV.get_template("error.html").render(
        status=status, title=title, message=message, links=links, site_name=site_name
    )
