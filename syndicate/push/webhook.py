"""The webhook envelope and its Standard Webhooks signature.

The body is serialised once, when the event is enqueued; those exact bytes are
stored, signed and sent on every attempt. Each attempt gets a fresh
``webhook-timestamp`` and signature; the ``webhook-id`` never changes.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from syndicate.outputs.present import iso_text

PING = "ping"


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def envelope(
    event_type: str, posting_id: str, version: int, url: str, document: dict[str, Any] | None, timestamp: datetime
) -> dict[str, Any]:
    """``{"type", "timestamp", "data": {"id", "version", "url", "posting"}}``; ``posting`` is the
    JobPosting JSON-LD (``jsonld.job_posting``) of the posting at ``version``, null once its file is gone."""
    return {
        "type": event_type,
        "timestamp": iso_text(timestamp),
        "data": {
            "id": posting_id,
            "version": version,
            "url": url,
            "posting": document,
        },
    }


def body_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def ping_body(board: str, timestamp: datetime) -> bytes:
    return body_bytes({"type": PING, "timestamp": iso_text(timestamp), "data": {"board": board}})


def signed_headers(secret: str, webhook_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at ``now`` (timezone-aware, any zone)."""
    moment = now.astimezone(UTC)  # the library replaces tzinfo rather than converting: give it UTC
    signature = Webhook(secret).sign(webhook_id, moment, body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
