"""The per-process cache of rendered outputs and its metrics; conditional GET and gzip on its entries."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from email.utils import parsedate_to_datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from syndicate.outputs.rendered import Rendered


class RenderCache:
    """A bounded LRU of ``Rendered`` by total bytes; safe to share between threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_render(self, key: Hashable, render: Callable[[], Rendered], keep: bool = True) -> Rendered:
        """The cached entry, or ``render()`` (kept for next time unless ``keep`` is false)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        rendered = render()  # outside the lock: two threads may render the same bytes once each
        if keep:
            self._store(key, rendered)
        return rendered

    def _store(self, key: Hashable, rendered: Rendered) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = rendered
            self._bytes += rendered.size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes


def _etags(header: str) -> list[str]:
    """The entity tags of an If-None-Match header, with any weak prefix removed."""
    tags = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if part:
            tags.append(part)
    return tags


def not_modified(rendered: Rendered, etag: str, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """RFC 9110, 13.2.2: If-None-Match decides when present (weak comparison against ``etag``, the
    validator of the representation being sent); else If-Modified-Since."""
    if rendered.status != 200:
        return False
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return int(rendered.last_modified.timestamp()) <= since.timestamp()
    return False


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when the client lists gzip (or ``*``) without ``q=0``."""
    if not accept_encoding:
        return False
    allowed = None
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding == "*":
            allowed = q > 0 if allowed is None else allowed
        else:
            return q > 0
    return bool(allowed)


class RenderCacheCollector(Collector):
    """This process's render cache: entries, bytes, hits and misses (per process, like the cache)."""

    def __init__(self, cache: RenderCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily("syndicate_render_cache_entries", "Rendered outputs kept.", value=len(self.cache))
        yield GaugeMetricFamily(
            "syndicate_render_cache_bytes", "Bytes of rendered outputs kept.", value=self.cache.bytes
        )
        yield CounterMetricFamily(
            "syndicate_render_cache_hits", "Requests answered from a rendered output.", value=self.cache.hits
        )
        yield CounterMetricFamily(
            "syndicate_render_cache_misses", "Requests that rendered their output.", value=self.cache.misses
        )
