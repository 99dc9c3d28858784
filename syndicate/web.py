"""HTTP routes. Only this module touches ``flask.request``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .factory import services
from .loader import utcnow

bp = Blueprint("web", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness and readiness: the database answers and a snapshot is loaded."""
    svc = services()
    snapshot = svc.loader.snapshot
    try:
        database_ok = svc.store.ping()
    except Exception:
        database_ok = False
    body = {
        "status": "ok" if database_ok else "unavailable",
        "database": database_ok,
        "postings": {
            "version": snapshot.version,
            "loaded": len(snapshot.postings),
            "open": len(snapshot.open_postings(utcnow())),
            "rejected_files": len(svc.loader.rejected_files()),
            "loaded_at": snapshot.loaded_at.isoformat(),
        },
    }
    response = jsonify(body)
    response.status_code = 200 if database_ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format: postings by state, rejected files, problems, snapshot age."""
    body = generate_latest(services().metrics)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
