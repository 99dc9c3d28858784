"""The HTML pages (the index, one posting's page, one company's page) and a posting's JSON-LD document."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from syndicate.outputs import render as outputs
from syndicate.outputs.filters import FilterError, parse_page
from syndicate.web.answers import cached, error, filter_and_page, posting_output, state

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    try:
        flt, page = filter_and_page(strict=False)  # a careers page ignores utm_* and the like
    except FilterError as exc:
        return error(400, str(exc), "html")
    site = state().site
    return cached(
        "index", flt.query(page), lambda c, e, links: outputs.index_page(c, e, flt, page, links, site), "html"
    )


@bp.get("/jobs/<posting_id>")
def job(posting_id: str) -> ResponseReturnValue:
    site = state().site
    return posting_output(posting_id, "job", "html", lambda p, links: outputs.job_page(p, links, site))


@bp.get("/jobs/<posting_id>.jsonld")
def job_jsonld(posting_id: str) -> ResponseReturnValue:
    return posting_output(posting_id, "jsonld", "json", outputs.jsonld_document)


@bp.get("/companies/<slug>")
def company(slug: str) -> ResponseReturnValue:
    try:
        page = parse_page(request.args.to_dict(flat=False))  # other parameters (utm_*) are ignored, as on the index
    except FilterError as exc:
        return error(400, str(exc), "html")
    site = state().site
    return cached(
        "company", (slug, page), lambda c, e, links: outputs.company_page(c, e, slug, page, links, site), "html"
    )
