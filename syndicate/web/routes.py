"""HTTP routes. Only this module touches ``flask.request``.

Every output is looked up in the render cache by (output, base URL, canonical
filter and page, snapshot version, expiry epoch) and rendered only on a miss;
conditional requests and gzip are answered from the cached entry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import MethodNotAllowed

from syndicate.model import Posting, Status
from syndicate.outputs import render as outputs
from syndicate.outputs.catalog import Catalog
from syndicate.outputs.filters import NO_FILTER, Filter, FilterError, parse_filter, parse_page
from syndicate.outputs.render import PageNotFound
from syndicate.outputs.rendered import Rendered
from syndicate.outputs.urls import Links
from syndicate.services import Services
from syndicate.web.app import services
from syndicate.web.hosts import host_allowed, hostname
from syndicate.web.httpcache import RenderCacheCollector, accepts_gzip, not_modified
from syndicate.web.state import WebState

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

EXTENSION = "syndicate.web"


def init_app(app: Flask, svc: Services) -> WebState:
    """Routes, error handlers and the web state on ``app``; the state is returned unrefreshed."""
    state = WebState(svc)
    app.extensions[EXTENSION] = state
    svc.metrics.register(RenderCacheCollector(state.cache))
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = svc.settings.cache_max_age
    app.register_blueprint(bp)
    app.before_request(_allowed_host)
    app.after_request(_conditional_fallback)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _method_not_allowed)
    return state


def _state() -> WebState:
    return current_app.extensions[EXTENSION]


def _links(state: WebState) -> Links:
    return Links.from_base(state.base_url or request.url_root)  # url_root keeps a mount prefix


def _keep(state: WebState, links: Links) -> bool:
    """Whether this answer may stay in the render cache: always with a base URL; else only for the few
    hosts asked for most (see ``hosts``)."""
    return state.base_url is not None or state.cached_hosts.owns(links.base)


def _allowed_host() -> ResponseReturnValue | None:
    """400 for a Host outside ``SYNDICATE_ALLOWED_HOSTS`` (probes, which call by address, excepted)."""
    state = _state()
    if not state.allowed_hosts or request.path in ("/healthz", "/readyz"):
        return None
    if host_allowed(hostname(request.host), state.allowed_hosts):
        return None
    return _error(400, f"this site does not answer for the host {request.host!r}", "text")


def _max_age(state: WebState, catalog: Catalog, epoch: int, now: datetime) -> int:
    """The configured max-age, cut short so no cache keeps a posting past its expiry."""
    upcoming = catalog.next_expiry(epoch)
    if upcoming is None:
        return state.max_age
    return max(0, min(state.max_age, math.ceil((upcoming - now).total_seconds())))


def respond(rendered: Rendered, max_age: int) -> Response:
    """The cached entry as a response: 304 when the client has it, gzip when it accepts it."""
    use_gzip = rendered.compressible and accepts_gzip(request.headers.get("Accept-Encoding"))
    headers = [
        ("ETag", rendered.gzip_etag if use_gzip else rendered.etag),
        ("Last-Modified", rendered.http_last_modified),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", "Accept-Encoding"),
        *rendered.headers,
    ]
    etag = headers[0][1]
    if not_modified(rendered, etag, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")):
        return Response(status=304, headers=headers)
    if use_gzip:
        headers.append(("Content-Encoding", "gzip"))
    body = rendered.gzipped() if use_gzip else rendered.body
    return Response(body, status=rendered.status, headers=headers, content_type=rendered.content_type)


def _error(status: int, message: str, kind: str) -> Response:
    """A client error in the shape the route's clients read: JSON, plain text or a page."""
    if kind == "json":
        response = jsonify({"error": message, "status": status})
    elif kind == "text":
        response = Response(message + "\n", content_type="text/plain; charset=utf-8")
    else:
        state = _state()
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(status, "Error")
        page = outputs.error_page(status, title, message, _links(state), state.site, state.svc.clock())
        response = Response(page.body, content_type=page.content_type)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _cached(
    kind: str, key: Hashable, render: Callable[[Catalog, int, Links], Rendered], error_kind: str
) -> ResponseReturnValue:
    """Look up (or render) one list output for the current snapshot and moment."""
    state = _state()
    now = state.svc.clock()
    catalog = state.catalog
    epoch = catalog.epoch(now)
    links = _links(state)
    try:
        rendered = state.cache.get_or_render(
            (kind, links.base, key, catalog.version, catalog.changed_at, epoch),
            lambda: render(catalog, epoch, links),
            keep=_keep(state, links),
        )
    except PageNotFound as exc:
        return _error(404, str(exc), error_kind)
    return respond(rendered, _max_age(state, catalog, epoch, now))


def _filter_and_page(strict: bool = True) -> tuple[Filter, int]:
    if not request.query_string:  # the common case, and what feed readers poll: nothing to parse
        return NO_FILTER, 1
    args = request.args.to_dict(flat=False)
    return parse_filter(args, allowed=("page",), strict=strict), parse_page(args)


# --- feeds, sitemap, API ------------------------------------------------------------


def _feed_route(fmt: str) -> Callable[[], ResponseReturnValue]:
    def view() -> ResponseReturnValue:
        try:
            flt, page = _filter_and_page()
        except FilterError as exc:
            return _error(400, str(exc), "text")
        site = _state().site
        if fmt == "indeed":
            if page != 1:
                return _error(400, "the Indeed feed is not paged: it always holds every open posting", "text")
            return _cached(fmt, flt.query(), lambda c, e, links: outputs.indeed_feed(c, e, flt, links, site), "text")
        return _cached(
            fmt, flt.query(page), lambda c, e, links: outputs.feed(fmt, c, e, flt, page, links, site), "text"
        )

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
    return _cached("sitemap", "", lambda c, e, links: outputs.sitemap_xml(c, e, links), "text")


@bp.get("/robots.txt")
def robots_txt() -> ResponseReturnValue:
    return _cached("robots", "", lambda c, e, links: outputs.robots(c, links), "text")


@bp.get("/api/postings")
def api_list() -> ResponseReturnValue:
    try:
        flt, page = _filter_and_page()
    except FilterError as exc:
        return _error(400, str(exc), "json")
    site = _state().site
    return _cached("api", flt.query(page), lambda c, e, links: outputs.api_list(c, e, flt, page, links, site), "json")


# --- one posting --------------------------------------------------------------------


def _one(
    posting_id: str, kind: str, error_kind: str, render: Callable[[Posting, Links], Rendered]
) -> ResponseReturnValue:
    """A posting's own output: 404 for unknown ids and drafts, 410 once closed or expired."""
    state = _state()
    now = state.svc.clock()
    catalog = state.catalog
    posting = catalog.snapshot.get(posting_id)
    if posting is None or posting.status is Status.DRAFT:
        return _error(404, f"there is no posting {posting_id!r}", error_kind)
    epoch = catalog.epoch(now)
    links = _links(state)
    digest = catalog.snapshot.digests.get(posting.id)
    if catalog.is_listed(posting, epoch):
        rendered = state.cache.get_or_render(
            (kind, links.base, posting.id, digest), lambda: render(posting, links), keep=_keep(state, links)
        )
        return respond(rendered, _max_age(state, catalog, epoch, now))
    if error_kind != "html":
        reason = "closed" if posting.status is Status.CLOSED else "expired"
        response = _error(410, f"posting {posting_id!r} is {reason}", error_kind)
        response.headers["Cache-Control"] = f"public, max-age={state.max_age}"
        return response
    gone = state.cache.get_or_render(
        ("gone", links.base, posting.id, digest),
        lambda: outputs.gone_page(posting, links, state.site),
        keep=_keep(state, links),
    )
    return respond(gone, state.max_age)


@bp.get("/jobs/<posting_id>")
def job(posting_id: str) -> ResponseReturnValue:
    site = _state().site
    return _one(posting_id, "job", "html", lambda p, links: outputs.job_page(p, links, site))


@bp.get("/jobs/<posting_id>.jsonld")
def job_jsonld(posting_id: str) -> ResponseReturnValue:
    return _one(posting_id, "jsonld", "json", outputs.jsonld_document)


@bp.get("/api/postings/<posting_id>")
def api_posting(posting_id: str) -> ResponseReturnValue:
    return _one(posting_id, "api-one", "json", outputs.api_posting)


# --- HTML index ------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    try:
        flt, page = _filter_and_page(strict=False)  # a careers page ignores utm_* and the like
    except FilterError as exc:
        return _error(400, str(exc), "html")
    site = _state().site
    return _cached(
        "index", flt.query(page), lambda c, e, links: outputs.index_page(c, e, flt, page, links, site), "html"
    )


# --- operations ------------------------------------------------------------------------


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Health: 200 while the process serves, ``ok`` or ``degraded`` (the database away, its schema behind,
    dates given while it was away), from what the refresher last saw: it never waits on the database."""
    state = _state()
    status, body = state.health(state.svc.clock())
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 once the postings are loaded and every output can be answered."""
    ready = _state().ready
    response = jsonify({"ready": ready})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: postings by state, rejected files, problems, snapshot age, render cache."""
    body = generate_latest(services().metrics)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _conditional_fallback(response: Response) -> Response:
    """Routes not served from the render cache still answer conditional GETs (ETag from the body)."""
    cacheable = request.method in ("GET", "HEAD") and response.status_code == 200
    if cacheable and "ETag" not in response.headers and not response.is_streamed:
        response.add_etag()
        response.make_conditional(request)
    return response


def _not_found(_exc: Exception) -> ResponseReturnValue:
    return _error(404, f"nothing is published at {request.path}", "html")


def _method_not_allowed(exc: MethodNotAllowed) -> ResponseReturnValue:
    response = _error(405, f"{request.method} is not supported at {request.path}", "html")
    response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
    return response
