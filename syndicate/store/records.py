"""The outbox's records as the sender, the CLI and the metrics see them: deliveries, attempts, outcomes,
board health, and the states a delivery goes through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syndicate.store.sql import utc

PENDING, DELIVERING, SUCCEEDED, FAILED, SUPERSEDED = "pending", "delivering", "succeeded", "failed", "superseded"
STATES = (PENDING, DELIVERING, SUCCEEDED, FAILED, SUPERSEDED)
OPEN_STATES = (PENDING, DELIVERING)


@dataclass(frozen=True)
class NewDelivery:
    """A delivery as a scan enqueues it: its event, its board and the exact body to send."""

    webhook_id: str
    board: str
    posting_id: str
    event_type: str
    version: int
    body: bytes
    # not due before this (None: at once); a websub delivery waits for the web to re-read the file
    due_at: datetime | None = field(default=None, kw_only=True, compare=False)
    # the kind of channel the body was built for (None: a delivery enqueued before this was kept)
    kind: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Delivery(NewDelivery):
    """A delivery row as the sender and the CLI see it: what was enqueued, and where it stands."""

    seq: int
    state: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    last_status: int | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        values = dict(row._mapping)
        for key in ("next_attempt_at", "lease_until", "created_at", "updated_at"):
            if values[key] is not None:
                values[key] = utc(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Attempt:
    webhook_id: str
    attempted_at: datetime
    status_code: int | None
    duration_ms: float
    error_class: str | None  # dns | connect | timeout | tls | http | None on success
    excerpt: str | None


@dataclass(frozen=True)
class Outcome:
    """One attempt and what it decided for its delivery; no attempt: the delivery waits unsent until
    ``next_attempt_at`` (a google-indexing board's daily quota is used)."""

    item: Delivery
    attempt: Attempt | None
    state: str
    next_attempt_at: datetime | None
    count: bool = True
    disable_reason: str | None = None
    disabled_config: str | None = None  # the board's config digest when disabled (a change enables it)


@dataclass(frozen=True)
class BoardHealth:
    board: str
    disabled: bool
    disabled_reason: str | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    consecutive_failures: int
