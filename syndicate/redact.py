"""URLs as they may be shown: without credentials or query values.

A board's URL may carry a secret (``https://user:pass@host/hooks?token=...``).
Wherever a URL is printed, logged or stored in the delivery log, it goes
through ``redact_url``; error texts that may quote it (urllib3 names the path
and query in "Max retries exceeded with url: ...") go through ``redact_text``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

HIDDEN = "***"


def redact_url(url: str) -> str:
    """``url`` with its user info and every query value replaced by ``***``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return HIDDEN  # not even a URL: show nothing of it
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # IPv6
    if port is not None:
        netloc += f":{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{HIDDEN}@{netloc}"
    query = "&".join(f"{quote(k, safe='')}={HIDDEN}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    if parts.query and not query:
        query = HIDDEN
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_QUERY = re.compile(r"\?[^\s'\"()<>]*")


def redact_text(text: str, url: str) -> str:
    """``text`` (an error message) without the secrets of ``url``: its user info, password, query string
    and each query value wherever they appear, and any query string at all."""
    parts = urlsplit(url)
    secrets = [parts.password, parts.username, parts.query, parts.fragment]
    secrets += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return _QUERY.sub(f"?{HIDDEN}", text)
