"""The feeds (RSS, Atom, JSON Feed, the Indeed XML), the sitemap and robots.txt."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint
from flask.typing import ResponseReturnValue

from syndicate.outputs import render as outputs
from syndicate.outputs.filters import FilterError
from syndicate.web.answers import cached, error, filter_and_page, state

bp = Blueprint("feeds", __name__)


def _feed_route(fmt: str) -> Callable[[], ResponseReturnValue]:
    def view() -> ResponseReturnValue:
        try:
            flt, page = filter_and_page()
        except FilterError as exc:
            return error(400, str(exc), "text")
        site = state().site
        if fmt == "indeed":
            if page != 1:
                return error(400, "the Indeed feed is not paged: it always holds every open posting", "text")
            return cached(fmt, flt.query(), lambda c, e, links: outputs.indeed_feed(c, e, flt, links, site), "text")
        return cached(fmt, flt.query(page), lambda c, e, links: outputs.feed(fmt, c, e, flt, page, links, site), "text")

    view.__name__ = f"feed_{fmt}"
    return view


for _fmt, _path in (
    ("rss", "/feed.rss"),
    ("atom", "/feed.atom"),
    ("json", "/feed.json"),
    ("indeed", "/feeds/indeed.xml"),
):
    bp.add_url_rule(_path, view_func=_feed_route(_fmt), methods=["GET"])


@bp.get("/sitemap.xml")
def sitemap_xml() -> ResponseReturnValue:
    return cached("sitemap", "", lambda c, e, links: outputs.sitemap_xml(c, e, links), "text")


@bp.get("/robots.txt")
def robots_txt() -> ResponseReturnValue:
    return cached("robots", "", lambda c, e, links: outputs.robots(c, links), "text")
