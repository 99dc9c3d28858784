"""The Google Indexing API channel: what a posting event owes a google-indexing board, and the call.

Google takes notifications for pages that carry JobPosting markup: ``URL_UPDATED`` with the page's
absolute URL when a posting opens or changes, ``URL_DELETED`` when it closes, expires, is deleted or
becomes a draft. A delivery stores the call's JSON body (``{"url", "type"}``); the bearer token is
added when it is sent, so no credential is in the outbox, the delivery log or ``push --dry-run``.

Tokens come from the service account's key through google-auth (the OAuth 2.0 JWT bearer flow to the
key file's ``token_uri``, scope ``indexing``) and are kept until they expire: one token fetch serves
every call until then. The fetch and the call share one attempt deadline.

What follows an answer is ``decide``: a 403 (the service account is not an owner of the site in
Search Console) disables the board with Google's message until its entry or key file changes; a 429
without ``Retry-After`` waits for the next UTC day, when the quota refills; the rest is a webhook's
schedule. The daily quota itself is kept by ``syndicate.store.quota`` (the worker asks it before each
call).
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from syndicate.push import delivery
from syndicate.push.changes import CLOSED
from syndicate.push.delivery import Answer, Decision, Policy
from syndicate.push.serviceaccount import ServiceAccount

SCOPE = "https://www.googleapis.com/auth/indexing"
URL_UPDATED, URL_DELETED = "URL_UPDATED", "URL_DELETED"
CONTENT_TYPE = "application/json; charset=utf-8"


def stored_body(page_url: str, event_type: str) -> bytes:
    """The publish call's body for a posting event: a close (or expiry, delete, draft) is a deletion."""
    kind = URL_DELETED if event_type == CLOSED else URL_UPDATED
    return json.dumps({"url": page_url, "type": kind}, separators=(",", ":")).encode()


def notification(body: bytes) -> dict[str, str]:
    return dict(json.loads(body))


# --- tokens -------------------------------------------------------------------------------------------


class Tokens:
    """Access tokens per service account, fetched when missing or about to expire, shared by threads."""

    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.fetched = 0  # token fetches so far (one per hour or so, not one per call)

    def bearer(self, account: ServiceAccount, session: requests.Session, policy: Policy) -> str:
        """A valid token for ``account`` (raises google-auth's RefreshError or TransportError)."""
        from google.oauth2 import service_account

        with self._lock:
            credentials = self._credentials.get(account.digest)
            if credentials is None:
                credentials = service_account.Credentials.from_service_account_info(account.reveal(), scopes=[SCOPE])
                self._credentials[account.digest] = credentials
            if not credentials.valid:
                credentials.refresh(_token_request(session, policy))
                self.fetched += 1
            return str(credentials.token)

    def forget(self, account: ServiceAccount) -> None:
        """The API said 401: the next call fetches a new token."""
        with self._lock:
            self._credentials.pop(account.digest, None)


def _token_request(session: requests.Session, policy: Policy) -> Any:
    """google-auth's transport over ``session``, with the attempt's timeouts and no redirects."""
    from google.auth.transport.requests import Request

    class TokenRequest(Request):
        def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any) -> Any:
            kwargs["timeout"] = (policy.connect_timeout, policy.total_timeout)
            return super().__call__(url, method, body, headers, allow_redirects=False, **kwargs)

    return TokenRequest(session)


# --- one call -------------------------------------------------------------------------------------------


def send(
    session: requests.Session, endpoint: str, account: ServiceAccount, tokens: Tokens, body: bytes, policy: Policy
) -> Answer:
    """One publish call of ``body`` (a token fetched first if none is valid), within one deadline."""
    from google.auth import exceptions

    started = time.perf_counter()
    with delivery.deadline_of(policy) as deadline:
        try:
            token = tokens.bearer(account, session, policy)
        except exceptions.RefreshError as exc:  # the token endpoint answered, and said no
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            duration = (time.perf_counter() - started) * 1000
            return Answer(None, duration, "auth", f"token: {reason}"[: delivery.EXCERPT_BYTES])
        except exceptions.TransportError as exc:
            cause = exc.__cause__ or (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc)
            answer = delivery.failure(cause, account.reveal()["token_uri"], started, deadline, policy)
            return Answer(None, answer.duration_ms, answer.error_class, f"token: {answer.excerpt}")
        headers = {"Content-Type": CONTENT_TYPE, "Authorization": f"Bearer {token}"}
        answer = delivery.post(session, endpoint, body, headers, policy)
    if answer.status == 401:
        tokens.forget(account)
    if answer.excerpt and token in answer.excerpt:
        answer = Answer(answer.status, answer.duration_ms, answer.error_class, answer.excerpt.replace(token, "***"))
    return answer


def message(excerpt: str | None) -> str:
    """Google's error message out of its JSON answer (``{"error": {"message": ...}}``), else the excerpt."""
    try:
        text = json.loads(excerpt or "")["error"]["message"]
        return str(text)
    except (ValueError, KeyError, TypeError):
        return (excerpt or "").strip() or "no message"


def next_day(now: datetime) -> datetime:
    """The next UTC midnight: when Google's daily quota refills."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_of(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def decide(
    answer: Answer, attempts_done: int, policy: Policy, now: datetime, rng: random.Random, account: ServiceAccount
) -> Decision:
    """What follows a publish call; ``attempts_done`` includes this one."""
    if answer.status == 403:
        reason = (
            f"403 from Google at {now.isoformat()}: {message(answer.excerpt)} (make {account.email} an owner of the "
            "site in Search Console; calls resume when the board's entry or key file changes)"
        )
        return Decision("pending", now, disable_reason=reason, count=False)
    if answer.status == 429 and delivery.retry_after_delay(answer.retry_after, now) is None:
        return Decision("pending", next_day(now), count=False)  # the day's quota is spent: not a failure
    return delivery.decide(answer, attempts_done, policy, now, rng)
