"""Parsing many posting files on every core.

Kept apart from the loader so that a pool process imports only the reader
(about 0.2 s), not the web framework or the database toolkit.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import tzinfo

from syndicate.postings.limits import DEFAULT_LIMITS, Limits
from syndicate.postings.reader import ReadResult, read_posting, result_from_json, result_to_json

PARALLEL_FROM = 500  # below this many files a pool costs more than it saves
CHUNK = 100


Parsed = tuple[ReadResult, str, str | None]  # the result, and its cache form: JSON text and HTML


def _parse_chunk(chunk: list[tuple[str, bytes]], tz: tzinfo, limits: Limits) -> list[Parsed]:
    parsed = []
    for source, raw in chunk:
        result = read_posting(raw, source, tz, limits)
        parsed.append((result, *result_to_json(result)))
    return parsed


def _parse_chunk_remote(
    chunk: list[tuple[str, bytes]], tz: tzinfo, limits: Limits
) -> list[tuple[str, str, str | None]]:
    # plain strings cross the process boundary far cheaper than pickled postings
    return [(result.source, text, html) for result, text, html in _parse_chunk(chunk, tz, limits)]


def _rebuild(remote: list[tuple[str, str, str | None]]) -> list[Parsed]:
    return [(result_from_json(source, text, html), text, html) for source, text, html in remote]


def parse_many(items: list[tuple[str, bytes]], tz: tzinfo, limits: Limits = DEFAULT_LIMITS) -> list[Parsed]:
    """``read_posting`` over ``(source, bytes)`` pairs, results in order; on every core when many.

    Pool processes take chunks from the front while this process parses from the
    back, so no core waits for the (spawned, slow to start) pool. A pool that cannot
    start or breaks costs only its attempt: whatever it did not return is parsed here.
    """
    workers = (os.cpu_count() or 1) - 1
    if len(items) < PARALLEL_FROM or workers < 1:
        return _parse_chunk(items, tz, limits)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    done: list[list[Parsed] | None] = [None] * len(chunks)
    front, back = 0, len(chunks) - 1
    pending: dict[Future, int] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        broken = False

        def feed() -> None:
            nonlocal front, broken
            while not broken and front <= back and len(pending) < 2 * workers:
                try:
                    pending[pool.submit(_parse_chunk_remote, chunks[front], tz, limits)] = front
                except (BrokenProcessPool, OSError):  # no process could be started: parse here
                    broken = True
                    return
                front += 1

        def collect(futures: list[Future]) -> None:
            nonlocal broken
            for future in futures:
                index = pending.pop(future)
                try:
                    done[index] = _rebuild(future.result())
                except Exception:  # e.g. the child cannot import the main script: parse here
                    broken = True
                    done[index] = _parse_chunk(chunks[index], tz, limits)

        feed()
        while front <= back:  # this process parses from the back until the two ends meet
            done[back] = _parse_chunk(chunks[back], tz, limits)
            back -= 1
            collect([f for f in pending if f.done()])
            feed()
        collect(list(pending))
    return [result for chunk in done for result in chunk]  # type: ignore[union-attr]
