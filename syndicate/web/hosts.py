"""Which Host headers the web answers, and which of them may keep rendered answers in the cache.

With ``SYNDICATE_BASE_URL`` set, no Host header plays any part in an answer.
Without it, absolute URLs come from the request, so every distinct Host is a
distinct answer; left alone, a client inventing hosts would fill the render
cache and push out the real site's entries. So only the few hosts asked for
most (``SYNDICATE_CACHED_HOSTS``) own cache entries; answers for any other host
are rendered each time and never evict theirs. Requests are counted per host
in a small table whose counts halve as it fills, so a burst of made-up hosts,
each asked once, never outranks the site people actually use.

``SYNDICATE_ALLOWED_HOSTS`` (off by default) answers any other host 400, as
Django's ``ALLOWED_HOSTS`` does.
"""

from __future__ import annotations

import heapq
import threading

TRACKED = 256  # hosts counted at once; the table halves its counts when full
RANK_EVERY = 64  # requests between two rankings of the counted hosts


class CachedHosts:
    """The ``slots`` hosts asked for most, which alone may keep entries in the render cache."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._counts: dict[str, int] = {}
        self._owners: frozenset[str] = frozenset()
        self._since_ranking = 0
        self._lock = threading.Lock()

    def owns(self, host: str) -> bool:
        """Count a request for ``host``; True when its answers may be cached."""
        with self._lock:
            count = self._counts.get(host)
            if count is None:
                if len(self._counts) >= TRACKED:
                    self._age()
                count = 0
            self._counts[host] = count + 1
            self._since_ranking += 1
            if len(self._owners) < self.slots and host not in self._owners:
                self._owners = self._owners | {host}  # a free slot: taken at once
            elif self._since_ranking >= RANK_EVERY:
                self._rank()
            return host in self._owners

    def _rank(self) -> None:
        self._since_ranking = 0
        self._owners = frozenset(heapq.nlargest(self.slots, self._counts, key=self._counts.__getitem__))

    def _age(self) -> None:
        """Halve every count and forget the hosts that reach 0 (those asked for once or so)."""
        self._counts = {h: c // 2 for h, c in self._counts.items() if c // 2 or h in self._owners}
        if len(self._counts) >= TRACKED:  # every host is an owner or popular: drop the least asked
            keep = heapq.nlargest(TRACKED // 2, self._counts, key=self._counts.__getitem__)
            self._counts = {h: self._counts[h] for h in keep}
        self._rank()


def hostname(host_header: str | None) -> str:
    """The name of a Host header, without its port, in lower case (``[::1]:80`` -> ``::1``)."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """``host`` (no port, lower case) matches one of ``patterns``: a name, ``.name`` for it and its
    subdomains, or ``*``; no patterns allow every host."""
    if not patterns:
        return True
    for pattern in patterns:
        if (
            pattern == "*"
            or host == pattern
            or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]))
        ):
            return True
    return False
