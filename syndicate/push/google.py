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
import re
import threading
import time
from collections.abc import Callable
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


# --- tokens -------------------------------------------------------------------------------------------


MAX_TOKEN_ANSWER = 64 * 1024  # bytes of a token endpoint's answer read at most (a real one is under 2 KiB)
REFRESH_MARGIN = 225.0  # seconds before expiry a token is fetched again (google-auth's own margin)...
_USABLE_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}\Z")  # ...and what a bearer token may be (RFC 6750)


class TokenError(Exception):
    """The token endpoint gave no usable token: its words (never a credential) are the message."""


class Tokens:
    """Access tokens per service account, fetched when missing or about to expire, shared by threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens: dict[str, tuple[str, float, float]] = {}  # digest: (token, fetched at, expires at)
        self._lock = threading.Lock()
        self._clock = clock

    def bearer(self, account: ServiceAccount, session: requests.Session, policy: Policy) -> str:
        """A usable token for ``account``; raises ``TokenError`` (the endpoint said no, or gave nothing
        usable) or google-auth's ``TransportError`` (no answer)."""
        with self._lock:
            held = self._tokens.get(account.digest)
            now = self._clock()
            if held is not None:
                token, fetched, expires = held
                if now < expires - min(REFRESH_MARGIN, (expires - fetched) / 2):  # a short-lived token is kept too
                    return token
            token, lifetime = _fetch(account, session, policy)
            self._tokens[account.digest] = (token, now, now + lifetime)
            return token

    def forget(self, account: ServiceAccount) -> None:
        """The API said 401: the next call fetches a new token."""
        with self._lock:
            self._tokens.pop(account.digest, None)


def _fetch(account: ServiceAccount, session: requests.Session, policy: Policy) -> tuple[str, float]:
    """(token, seconds it lives) by the JWT bearer grant, through google-auth and ``_Transport``."""
    from google.auth import exceptions
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_info(account.reveal(), scopes=[SCOPE])
    before = datetime.now(UTC).replace(tzinfo=None)  # wall-clock: google-auth states expiry in UTC
    try:
        credentials.refresh(_Transport(session, policy))
    except exceptions.RefreshError as exc:  # the token endpoint answered, and said no
        raise TokenError(str(exc.args[0]) if exc.args else type(exc).__name__) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # an answer google-auth could not read
        raise TokenError(f"an unreadable answer from the token endpoint ({type(exc).__name__})") from None
    token = credentials.token
    if not isinstance(token, str) or not _USABLE_TOKEN.match(token):
        raise TokenError("the token endpoint gave a token that cannot be sent in a header")
    lifetime = (credentials.expiry - before).total_seconds() if credentials.expiry else 3600.0
    return token, max(0.0, lifetime)


class _Answer:
    """A token endpoint's answer as google-auth's transport gives it (``status``, ``headers``, ``data``)."""

    def __init__(self, status: int, headers: Any, data: bytes) -> None:
        self.status, self.headers, self.data = status, headers, data


class _Transport:
    """google-auth's transport over ``session``: the attempt's timeouts, no redirects, at most
    ``MAX_TOKEN_ANSWER`` bytes read, and no retries inside the attempt (a 5xx, 408 or 429 ends it:
    the outbox's schedule retries, within the lease)."""

    def __init__(self, session: requests.Session, policy: Policy) -> None:
        self.session, self.policy = session, policy

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> _Answer:
        from google.auth import exceptions

        try:
            with self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=(self.policy.connect_timeout, self.policy.total_timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                data = bytearray()
                for chunk in response.iter_content(8192):
                    data += chunk
                    if len(data) > MAX_TOKEN_ANSWER:
                        raise TokenError(f"the token endpoint's answer is over {MAX_TOKEN_ANSWER // 1024} KiB")
                status = response.status_code
                if status >= 500 or status in (408, 429):
                    raise TokenError(f"the token endpoint answered {status}")
                return _Answer(status, response.headers, bytes(data))
        except requests.RequestException as exc:
            raise exceptions.TransportError(exc) from exc


# --- one call -------------------------------------------------------------------------------------------


def authorize(session: requests.Session, account: ServiceAccount, tokens: Tokens, policy: Policy) -> str | Answer:
    """A bearer token for a call (fetched if none is usable), or the failed answer of fetching one. Runs
    inside the attempt's deadline (``delivery.deadline_of``), which the call then shares."""
    from google.auth import exceptions

    started = time.perf_counter()
    try:
        return tokens.bearer(account, session, policy)
    except TokenError as exc:
        duration = (time.perf_counter() - started) * 1000
        return Answer(None, duration, "auth", f"token: {exc}"[: delivery.EXCERPT_BYTES])
    except exceptions.TransportError as exc:
        cause = exc.__cause__ or exc
        deadline = delivery.current_deadline()
        answer = delivery.failure(cause, account.reveal()["token_uri"], started, deadline, policy)
        return Answer(None, answer.duration_ms, answer.error_class, f"token: {answer.excerpt}")


def publish(
    session: requests.Session,
    endpoint: str,
    token: str,
    body: bytes,
    policy: Policy,
    tokens: Tokens,
    account: ServiceAccount,
) -> Answer:
    """One publish call of ``body`` with ``token``; a 401 drops the token, and the answer never shows it."""
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
