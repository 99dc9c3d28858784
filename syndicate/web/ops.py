"""What operators and their tools read: /healthz, /readyz, /metrics (never cached: ``no-store``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syndicate.web.answers import state

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Health: 200 while the process serves, ``ok`` or ``degraded`` (the database away, its schema behind,
    dates given while it was away), from what the refresher last saw: it never waits on the database."""
    web = state()
    status, body = web.health(web.svc.clock())
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 once the postings are loaded and every output can be answered."""
    ready = state().ready
    response = jsonify({"ready": ready})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: postings by state, rejected files, problems, snapshot age, render cache."""
    body = generate_latest(state().svc.metrics)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
