"""What every route answers with: the render-cache look-up, the response (conditional, gzip), errors,
filter and page parsing, and the site-wide hooks (allowed hosts, 404/405, conditional GET on the
answers that do not come from the render cache).

Every output is looked up in the render cache by (output, base URL, canonical filter and page,
snapshot version, expiry epoch) and rendered only on a miss; conditional requests and gzip are
answered from the cached entry. ``syndicate.web`` is the only package that reads ``flask.request``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from datetime import datetime

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.http import http_date

from syndicate.model import Posting, Status
from syndicate.outputs import render as outputs
from syndicate.outputs.catalog import Catalog
from syndicate.outputs.filters import NO_FILTER, Filter, parse_filter, parse_page
from syndicate.outputs.render import PageNotFound
from syndicate.outputs.rendered import Rendered
from syndicate.outputs.urls import Links
from syndicate.web.conditional import accepts_gzip, evaluate
from syndicate.web.hosts import host_allowed, hostname
from syndicate.web.state import WebState

EXTENSION = "syndicate.web"  # app.extensions key of the WebState
PROBES = ("/healthz", "/readyz")  # answered whatever the Host: load balancers call by address


def state() -> WebState:
    return current_app.extensions[EXTENSION]


def links(web: WebState) -> Links:
    return Links.from_base(web.base_url or request.url_root)  # url_root keeps a mount prefix


def keep(web: WebState, urls: Links) -> bool:
    """Whether this answer may stay in the render cache: always with a base URL; else only for the few
    hosts asked for most (see ``hosts``)."""
    return web.base_url is not None or web.cached_hosts.owns(urls.base)


def max_age(web: WebState, catalog: Catalog, epoch: int, now: datetime) -> int:
    """The configured max-age, cut short so no cache keeps a posting past its expiry."""
    upcoming = catalog.next_expiry(epoch)
    if upcoming is None:
        return web.max_age
    return max(0, min(web.max_age, math.ceil((upcoming - now).total_seconds())))


# --- conditional GET: one decision for every answer ---------------------------------------------


def precondition(etag: str | None, last_modified: datetime | str | None, *, if_match: bool) -> int | None:
    """304 (or 412) when this request's validators say so for a representation with these
    validators, else None. ``if_match``: whether If-Match counts (the answers built outside the render
    cache always honoured it, through werkzeug; the render-cache answers never have)."""
    headers = request.headers
    return evaluate(
        etag,
        last_modified,
        if_none_match=headers.get("If-None-Match"),
        if_modified_since=headers.get("If-Modified-Since"),
        if_match=headers.get("If-Match") if if_match else None,
    )


def respond(rendered: Rendered, max_age: int) -> Response:
    """The cached entry as a response: 304 when the client has it, gzip when it accepts it."""
    use_gzip = rendered.compressible and accepts_gzip(request.accept_encodings)
    etag = rendered.gzip_etag if use_gzip else rendered.etag
    headers = [
        ("ETag", etag),
        ("Last-Modified", rendered.http_last_modified),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("Vary", "Accept-Encoding"),
        *rendered.headers,
    ]
    status = precondition(etag, rendered.last_modified, if_match=False) if rendered.status == 200 else None
    if status is not None:
        return Response(status=status, headers=headers)
    if use_gzip:
        headers.append(("Content-Encoding", "gzip"))
    body = rendered.gzipped() if use_gzip else rendered.body
    return Response(body, status=rendered.status, headers=headers, content_type=rendered.content_type)


def conditional_fallback(response: Response) -> Response:
    """After every request: the answers not served from the render cache (probes, metrics) still
    answer conditional GETs, with an ETag from the body (what werkzeug's ``make_conditional`` did)."""
    cacheable = request.method in ("GET", "HEAD") and response.status_code == 200
    if not cacheable or "ETag" in response.headers or response.is_streamed:
        return response
    response.add_etag()
    if "Date" not in response.headers:
        response.headers["Date"] = http_date()
    status = precondition(response.headers["ETag"], response.headers.get("Last-Modified"), if_match=True)
    if status is not None:
        response.status_code = status
    if response.automatically_set_content_length and "Content-Length" not in response.headers:
        length = response.calculate_content_length()
        if length is not None:
            response.headers["Content-Length"] = str(length)
    return response


# --- errors -------------------------------------------------------------------------------------


def error(status: int, message: str, kind: str) -> Response:
    """A client error in the shape the route's clients read: JSON (``json``), plain text (``text``)
    or a page (``html``)."""
    if kind == "json":
        response = jsonify({"error": message, "status": status})
    elif kind == "text":
        response = Response(message + "\n", content_type="text/plain; charset=utf-8")
    else:
        web = state()
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(status, "Error")
        page = outputs.error_page(status, title, message, links(web), web.site, web.svc.clock())
        response = Response(page.body, content_type=page.content_type)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def allowed_host() -> ResponseReturnValue | None:
    """Before every request: 400 for a Host outside ``SYNDICATE_ALLOWED_HOSTS`` (probes excepted)."""
    web = state()
    if not web.allowed_hosts or request.path in PROBES:
        return None
    if host_allowed(hostname(request.host), web.allowed_hosts):
        return None
    return error(400, f"this site does not answer for the host {request.host!r}", "text")


def not_found(_exc: Exception) -> ResponseReturnValue:
    return error(404, f"nothing is published at {request.path}", "html")


def method_not_allowed(exc: MethodNotAllowed) -> ResponseReturnValue:
    response = error(405, f"{request.method} is not supported at {request.path}", "html")
    response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
    return response


# --- the two kinds of cached output -------------------------------------------------------------


def filter_and_page(strict: bool = True) -> tuple[Filter, int]:
    """The request's filter and page (raises ``FilterError``); ``strict``: unknown parameters are errors."""
    if not request.query_string:  # the common case, and what feed readers poll: nothing to parse
        return NO_FILTER, 1
    args = request.args.to_dict(flat=False)
    return parse_filter(args, allowed=("page",), strict=strict), parse_page(args)


def cached(
    kind: str, key: Hashable, render: Callable[[Catalog, int, Links], Rendered], error_kind: str
) -> ResponseReturnValue:
    """Look up (or render) one list output for the current snapshot and moment."""
    web = state()
    now = web.svc.clock()
    catalog = web.catalog
    epoch = catalog.epoch(now)
    urls = links(web)
    try:
        rendered = web.cache.get_or_render(
            (kind, urls.base, key, catalog.version, catalog.changed_at, epoch),
            lambda: render(catalog, epoch, urls),
            keep=keep(web, urls),
        )
    except PageNotFound as exc:
        return error(404, str(exc), error_kind)
    return respond(rendered, max_age(web, catalog, epoch, now))


def posting_output(
    posting_id: str, kind: str, error_kind: str, render: Callable[[Posting, Links], Rendered]
) -> ResponseReturnValue:
    """A posting's own output: 404 for unknown ids and drafts, 410 once closed or expired."""
    web = state()
    now = web.svc.clock()
    catalog = web.catalog
    posting = catalog.snapshot.get(posting_id)
    if posting is None or posting.status is Status.DRAFT:
        return error(404, f"there is no posting {posting_id!r}", error_kind)
    epoch = catalog.epoch(now)
    urls = links(web)
    digest = catalog.snapshot.digests.get(posting.id)
    if catalog.is_listed(posting, epoch):
        rendered = web.cache.get_or_render(
            (kind, urls.base, posting.id, digest), lambda: render(posting, urls), keep=keep(web, urls)
        )
        return respond(rendered, max_age(web, catalog, epoch, now))
    if error_kind != "html":
        reason = "closed" if posting.status is Status.CLOSED else "expired"
        response = error(410, f"posting {posting_id!r} is {reason}", error_kind)
        response.headers["Cache-Control"] = f"public, max-age={web.max_age}"
        return response
    gone = web.cache.get_or_render(
        ("gone", urls.base, posting.id, digest),
        lambda: outputs.gone_page(posting, urls, web.site),
        keep=keep(web, urls),
    )
    return respond(gone, web.max_age)
