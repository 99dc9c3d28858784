"""Parsing many posting files on every core.

Kept apart from the loader so that a pool process imports only the reader
(about 0.2 s), not the web framework or the database toolkit.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import tzinfo

from .reader import ReadResult, read_posting, result_from_json, result_to_json

PARALLEL_FROM = 500  # below this many files a pool costs more than it saves
CHUNK = 100


Parsed = tuple[ReadResult, str, str | None]  # the result, and its cache form: JSON text and HTML


def _parse_chunk(chunk: list[tuple[str, bytes]], tz: tzinfo) -> list[Parsed]:
    parsed = []
    for source, raw in chunk:
        result = read_posting(raw, source, tz)
        parsed.append((result, *result_to_json(result)))
    return parsed


def _parse_chunk_remote(chunk: list[tuple[str, bytes]], tz: tzinfo) -> list[tuple[str, str, str | None]]:
    # plain strings cross the process boundary far cheaper than pickled postings
    return [(result.source, text, html) for result, text, html in _parse_chunk(chunk, tz)]


def _rebuild(remote: list[tuple[str, str, str | None]]) -> list[Parsed]:
    return [(result_from_json(source, text, html), text, html) for source, text, html in remote]


def parse_many(items: list[tuple[str, bytes]], tz: tzinfo) -> list[Parsed]:
    """``read_posting`` over ``(source, bytes)`` pairs, results in order; on every core when many.

    The pool's processes take chunks from the front while this process parses,
    from the back, whatever they have not started: no core waits for the pool
    to start, and a pool that cannot start costs nothing but its attempt.
    """
    workers = (os.cpu_count() or 1) - 1
    if len(items) < PARALLEL_FROM or workers < 1:
        return _parse_chunk(items, tz)
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    done: list[list[Parsed] | None] = [None] * len(chunks)
    context = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded server
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_parse_chunk_remote, chunk, tz) for chunk in chunks]
        for index in reversed(range(len(chunks))):
            if futures[index].cancel():
                done[index] = _parse_chunk(chunks[index], tz)
        for index, future in enumerate(futures):
            if done[index] is None:
                try:
                    done[index] = _rebuild(future.result())
                except BrokenProcessPool:  # e.g. a script without a main guard: parse here
                    done[index] = _parse_chunk(chunks[index], tz)
    return [result for chunk in done for result in chunk if chunk is not None]
