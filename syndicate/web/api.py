"""The JSON API: the postings list (filtered, paged) and one posting."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from syndicate.outputs import render as outputs
from syndicate.outputs.filters import FilterError
from syndicate.web.answers import cached, error, filter_and_page, posting_output, state

bp = Blueprint("api", __name__)


@bp.get("/api/postings")
def api_list() -> ResponseReturnValue:
    try:
        flt, page = filter_and_page()
    except FilterError as exc:
        return error(400, str(exc), "json")
    site = state().site
    return cached("api", flt.query(page), lambda c, e, links: outputs.api_list(c, e, flt, page, links, site), "json")


@bp.get("/api/postings/<posting_id>")
def api_posting(posting_id: str) -> ResponseReturnValue:
    return posting_output(posting_id, "api-one", "json", outputs.api_posting)
