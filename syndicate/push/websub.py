"""The WebSub channel (W3C WebSub, publisher side): which feed URLs a posting event changed, and the
publish call that tells a hub about them.

Every hub in ``SYNDICATE_WEBSUB_HUBS`` (already advertised with ``rel=hub`` by every feed) is a board of
kind ``websub`` with no ``boards.toml`` entry (``syndicate.push.boards.websub_boards``).

A delivery stores the topics it owes, ``{"topics": [...], "listed": [...]}``:
- ``topics``: the absolute feed URLs whose bytes the event changed: ``/feed.rss``, ``/feed.atom`` and
  ``/feed.json``, and the three feeds of every canonical one-filter feed (``tag``, ``company``, ``type``,
  ``remote``) the posting is listed in now or was listed in before, spelled as the feeds spell their
  ``rel=self`` (``Links.feed`` of the parsed filter);
- ``listed``: the canonical queries (``tag=rust``) the posting is listed under in this version (none
  for a close), which is what the next delivery of the same hub and posting reads as "before".

"Before" comes from the outbox itself (``DeliveryLog.websub_history``), so it survives a restart and
needs a deleted file no more than a close does: walking back from the newest delivery of that hub and
posting, every delivery the hub never got (pending, superseded, failed) hands on its topics, and the
newest one it got or is getting (succeeded, delivering) hands on its ``listed``. With no history at all
(a close whose earlier deliveries were pruned), a close publishes the filters of the posting as it is.

The call is one form-encoded POST, ``hub.mode=publish`` and one ``hub.url`` per topic, each topic once
over all the deliveries of the batch (as pubsubhubbub.appspot.com and other hubs accept). At most
``MAX_TOPICS`` topics go in one call; more are sent in successive calls, and the batch succeeds only
if every call does (a retry sends them all again: a publish is idempotent, the hub fetches again).
Any 2xx is success (204 is usual); anything else is retried on the schedule like a webhook.

A hub fetches the topics as soon as it is told, and the web process re-reads the postings only every
``SYNDICATE_RELOAD_INTERVAL``; so a websub delivery is enqueued not due before ``publish_delay`` from
the scan (the reload interval plus ``PUBLISH_MARGIN``), by its ``next_attempt_at``, not by a sleep;
the worker wakes its dispatcher at that moment (``Worker.scan``), not at its next poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode

import requests

from syndicate.model import Posting
from syndicate.outputs.filters import REMOTE_MATCHES, FilterError, fold, parse_filter
from syndicate.outputs.urls import Links
from syndicate.push.delivery import Answer, Policy, post
from syndicate.store.records import DELIVERING, SUCCEEDED

FORMATS = ("rss", "atom", "json")  # the feeds a hub can subscribe to (Indeed's XML advertises no hub)
MAX_TOPICS = 100  # hub.url values per call: ~8 KB of form, well under any hub's request limit
BATCH = 25  # deliveries one lane call takes (their topics overlap: the main feeds, shared tags)
PUBLISH_MARGIN = 0.25  # seconds past the web's reload interval: the time a reload itself takes
HISTORY = 50  # deliveries of one hub and posting read back at most to find what was listed before
CONTENT_TYPE = "application/x-www-form-urlencoded"


def publish_delay(reload_interval: float) -> timedelta:
    """How long after the scan a websub delivery is due: by then every web process has re-read the file."""
    return timedelta(seconds=reload_interval + PUBLISH_MARGIN)


def due_at(now: datetime, reload_interval: float) -> datetime:
    return now + publish_delay(reload_interval)


def listed_filters(posting: Posting) -> list[str]:
    """The canonical queries of every one-filter feed ``posting`` is listed in (when it is listed)."""
    candidates: list[tuple[str, str]] = [("tag", t) for t in posting.tags]
    candidates.append(("company", posting.company.name))
    candidates += [("type", t) for t in posting.employment_types]
    candidates += [("remote", key) for key, matches in REMOTE_MATCHES.items() if posting.remote in matches]
    queries = set()
    for key, value in candidates:
        if not fold(value):
            continue
        try:
            flt = parse_filter({key: [value]})
        except FilterError:  # a value no feed URL can carry (too long, a control character)
            continue
        if not flt.is_empty and flt.matches(posting):
            queries.add(flt.query())
    return sorted(queries)


def feed_urls(links: Links, queries: Iterable[str]) -> list[str]:
    """The three feeds of each canonical query ('' is the unfiltered feeds), as their ``rel=self``."""
    out = []
    for query in queries:
        flt = parse_filter(parse_qs(query, keep_blank_values=False))
        out += [links.feed(fmt, flt) for fmt in FORMATS]
    return out


def owed_before(bodies: Iterable[tuple[str, bytes]], links: Links) -> set[str] | None:
    """The topics an earlier state of the posting adds: ``bodies`` are (state, stored body) of the hub's
    deliveries of that posting, newest first. None: there is no earlier delivery."""
    owed: set[str] | None = None
    for state, body in bodies:
        document = json.loads(body)
        if owed is None:
            owed = set()
        if state in (SUCCEEDED, DELIVERING):  # the hub got (or is getting) this one: what it listed
            owed.update(feed_urls(links, document.get("listed", ())))
            break
        owed.update(document.get("topics", ()))  # never got to the hub: its topics are still owed
    return owed


def topics(links: Links, listed_now: list[str], before: set[str] | None) -> list[str]:
    """The main feeds first, then every filtered feed that changed, each once."""
    main = feed_urls(links, [""])
    filtered = set(feed_urls(links, listed_now)) | (before or set())
    return main + sorted(filtered - set(main))


def stored_body(topic_urls: list[str], listed_now: list[str]) -> bytes:
    return json.dumps({"topics": topic_urls, "listed": listed_now}, separators=(",", ":")).encode()


def topic_list(body: bytes) -> list[str]:
    return list(json.loads(body)["topics"])


def call_body(topic_urls: list[str]) -> bytes:
    """The publish request's form: ``hub.mode=publish`` and one ``hub.url`` per topic."""
    return urlencode([("hub.mode", "publish"), *(("hub.url", url) for url in topic_urls)]).encode()


def batch_size() -> int:
    return BATCH


def send(session: requests.Session, hub: str, bodies: list[bytes], policy: Policy) -> Answer:
    """Publish the topics of the stored ``bodies`` (each once) to ``hub``, ``MAX_TOPICS`` a call; any 2xx
    is success. Several calls: the first failure ends the batch and is its answer."""
    urls = list(dict.fromkeys(url for body in bodies for url in topic_list(body)))
    headers = {"Content-Type": CONTENT_TYPE}
    answer, spent = None, 0.0
    for start in range(0, max(len(urls), 1), MAX_TOPICS):
        answer = post(session, hub, call_body(urls[start : start + MAX_TOPICS]), headers, policy)
        spent += answer.duration_ms
        if answer.error_class is not None:
            break
    assert answer is not None
    return Answer(answer.status, spent, answer.error_class, answer.excerpt, answer.retry_after)
