"""The IndexNow channel: which URLs a posting event owes an indexnow board, and the call that sends them.

A delivery stores only the URLs (``{"urlList": [...]}``): the key is added when the call is made,
so it is never in the outbox, the delivery log or ``push --dry-run``. The call is the protocol's
JSON POST, ``{"host", "key", "keyLocation", "urlList"}``, to the board's endpoint; the web process
serves the key at ``keyLocation`` (``/<key>.txt``) for the endpoint to check.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests

from syndicate.outputs.urls import Links
from syndicate.push.delivery import Answer, Policy, post

MAX_URLS = 10_000  # per call, as the protocol allows
SUCCESS = (200, 202)  # 200: received; 202: received, the key is still to be checked
CONTENT_TYPE = "application/json; charset=utf-8"


def stored_body(page_url: str, sitemap_url: str) -> bytes:
    """What a delivery keeps: the posting page that changed (opened, edited or gone: IndexNow wants
    removals too) and the sitemap."""
    return json.dumps({"urlList": [page_url, sitemap_url]}, separators=(",", ":")).encode()


def url_list(body: bytes) -> list[str]:
    return list(json.loads(body)["urlList"])


def key_location(links: Links, key: str) -> str:
    return f"{links.base}/{key}.txt"


def call_body(links: Links, key: str, urls: list[str]) -> bytes:
    """The protocol's request body for ``urls`` (at most ``MAX_URLS``)."""
    document = {
        "host": urlsplit(links.base).netloc,
        "key": key,
        "keyLocation": key_location(links, key),
        "urlList": urls[:MAX_URLS],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def batch_size() -> int:
    """How many deliveries one call takes at most: each adds its page, and the sitemap is sent once."""
    return MAX_URLS - 1


def send(
    session: requests.Session, endpoint: str, key: str, links: Links, bodies: list[bytes], policy: Policy
) -> Answer:
    """One IndexNow call for the URLs of the stored ``bodies`` (each URL once); 200 and 202 are success.
    The key is taken out of whatever the endpoint answers, so the delivery log never shows it."""
    lists = [url_list(body) for body in bodies]
    urls = list(dict.fromkeys([u[0] for u in lists if u] + [url for u in lists for url in u[1:]]))  # pages first
    headers = {"Content-Type": CONTENT_TYPE}
    answer = post(session, endpoint, call_body(links, key, urls), headers, policy)
    excerpt = answer.excerpt.replace(key, "***") if answer.excerpt else answer.excerpt
    error = answer.error_class
    if error is None and answer.status not in SUCCESS:
        error = "http"  # another 2xx is not what the protocol answers
    return Answer(answer.status, answer.duration_ms, error, excerpt, answer.retry_after)
