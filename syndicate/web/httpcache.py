"""The per-process cache of rendered outputs and its metrics (conditional GET and gzip: ``conditional``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator

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
