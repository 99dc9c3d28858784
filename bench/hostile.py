"""Benchmark: the worst time per 100 KB of reading a posting file, over adversarial inputs.

    python -m bench.hostile [--runs 3] [--max-bytes 1048576]

Each generator writes a file of about the size asked for, built to hit one
weak spot of a step of reading it: nesting of every Markdown construct (the
sanitiser's cost grows with depth), GFM tables (rows are padded to the
header's width), dense YAML (PyYAML makes an object per value), huge tag and
location lists, many keys, long lines, mojibake, control characters. Every
generator is read at sizes from 16 KB up to ``SYNDICATE_MAX_POSTING_BYTES``
with ``read_posting`` (what the loader and the parse pool run), in this
process, with the default limits; the figure is the median of ``--runs``.

"Per 100 KB" counts a file under 100 KB as 100 KB: the budget is 50 ms for any
file up to that size and 50 ms more per further 100 KB. The goal is that the
worst generator at its worst size stays within it, and that doubling the worst
generator's input no more than triples its time (``tests/test_limits.py``
checks the same ratio). Prints a Markdown table.

Then, with gunicorn running as the Procfile starts it (``gunicorn.conf.py``,
two workers) over 300 generated postings, a client asks for ``/healthz`` and
``/feed.atom`` back to back for a few seconds, 32 hostile files (one of every
generator, at the size that costs it most) are dropped into the folder at once,
and it goes on asking: the latency while both workers parse them, against the
latency before, in the same run (goal: the worst answer no more than 100 ms
slower; the parsing happens in each worker's refresher thread, never in a
request).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.tables import recording
from syndicate.postings.limits import DEFAULT_LIMITS

HEAD = "---\ntitle: Hostile Role\ncompany: Acme\n"
GOAL_MS_PER_100KB = 50.0
BASELINE = "baseline: a realistic posting"
SIZES = (16 * 1024, 100 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024)


def _front(extra: str) -> str:
    return HEAD + extra + "\n---\n"


def _body(unit: str, size: int, head: str = "", tail: str = "") -> bytes:
    """A posting whose body is ``head + unit * n + tail``, about ``size`` bytes in all."""
    front = _front("")
    n = max(1, (size - len(front) - len(head) - len(tail)) // len(unit))
    return (front + head + unit * n + tail).encode()


def _nest(opening: str, closing: str, size: int, middle: str = "x") -> bytes:
    front = _front("")
    n = max(1, (size - len(front) - len(middle)) // (len(opening) + len(closing)))
    return (front + opening * n + middle + closing * n).encode()


def _lines_for(size: int) -> int:
    """Lines of ``i % 900 + 1`` spaces each that add up to about ``size`` bytes."""
    total = lines = 0
    while total < size:
        total += lines % 900 + 4
        lines += 1
    return lines


def _yaml(make: Callable[[int], str], size: int, per_item: int) -> bytes:
    return (_front(make(max(1, size // per_item))) + "body\n").encode()


GENERATORS: dict[str, Callable[[int], bytes]] = {
    # nesting of every Markdown construct
    "nested blockquotes (>>>)": lambda size: _body(">", size),
    "nested blockquotes, lazy lines": lambda size: _body("a\n", size, head=">" * 1000 + "\n"),
    "nested blockquotes (> > >)": lambda size: _body("> ", size),
    "nested lists on one line (- - -)": lambda size: _body("- a ", size),
    "nested ordered lists (1. 1.)": lambda size: _body("1. ", size),
    "nested lists by indentation": lambda size: (
        _front("") + "".join("  " * (i % 400) + "- a\n" for i in range(max(1, size // 400)))
    ).encode(),
    "quote and list alternating": lambda size: _body("> - ", size),
    "nested emphasis": lambda size: _nest("*a ", " a*", size),
    "nested strong emphasis": lambda size: _nest("**a ", " a**", size),
    "nested strikethrough": lambda size: _nest("~~a ", " a~~", size),
    "nested link brackets": lambda size: _nest("[a", "](x)", size),
    "nested images": lambda size: _nest("![a", "](x)", size),
    "unclosed brackets": lambda size: _body("[", size),
    "backtick runs": lambda size: _body("`" * 7 + "a", size),
    "code fences": lambda size: _body("```\n", size),
    "raw HTML tags": lambda size: _body("<div><span>", size),
    # tables
    "table, wide header, short rows": lambda size: _body("|\n", size, head="|a" * 200 + "|\n" + "|-" * 200 + "|\n"),
    "table, very wide": lambda size: _body("|a", size // 2, head="") + b"|\n" + b"|-" * (size // 4) + b"|\n",
    "many small tables": lambda size: _body("|a|b|\n|-|-|\n|1|2|\n\n", size),
    "wide table after a narrow one, no blank line": lambda size: _body(
        "x\n", size, head="|a|\n|-|\n# h\n" + "|a" * 200 + "|\n" + "|-" * 200 + "|\n"
    ),
    # other Markdown
    "link reference definitions": lambda size: (
        _front("") + "".join(f"[r{i}]: https://x.example/{i}\n[r{i}] " for i in range(max(1, size // 40)))
    ).encode(),
    "autolinks": lambda size: _body("www.a.example ", size),
    "entities": lambda size: _body("&amp;&#x1F600;", size),
    "one long line": lambda size: _body("word ", size),
    "many short paragraphs": lambda size: _body("a\n\n", size),
    "mojibake everywhere": lambda size: _body("CafÃ© â€™ ", size),
    "mojibake on every line": lambda size: _body("Ã©\n", size),
    "a long run of Latin-1 symbols": lambda size: _body("©", size),
    "double quotes (an entity each)": lambda size: _body('"', size),
    "control characters": lambda size: _body("a\x1b[31m\x00", size),
    # front matter
    "huge tag list (flow)": lambda size: _yaml(
        lambda n: "tags: [" + ",".join(f"t{i}" for i in range(n)) + "]", size, 7
    ),
    "huge tag list (block)": lambda size: _yaml(
        lambda n: "tags:\n" + "".join(f"  - t{i}\n" for i in range(n)), size, 11
    ),
    "repeated tags": lambda size: _yaml(lambda n: "tags: [" + ",".join("a" for _ in range(n)) + "]", size, 2),
    "many locations": lambda size: _yaml(
        lambda n: "location: [" + ",".join(f"{{city: c{i}}}" for i in range(n)) + "]", size, 12
    ),
    "many unknown keys": lambda size: _yaml(lambda n: "".join(f"k{i}: 1\n" for i in range(n)), size, 9),
    "many nested keys": lambda size: _yaml(lambda n: "x: {" + ",".join(f"k{i}: 1" for i in range(n)) + "}", size, 8),
    "dense YAML list": lambda size: _yaml(lambda n: "x: [" + ",".join("1" for _ in range(n)) + "]", size, 2),
    "deep YAML flow nesting": lambda size: _yaml(lambda n: "x: " + "[" * n + "]" * n, size, 2),
    "deep YAML block nesting": lambda size: (
        _front("x:\n" + "".join(" " * (i % 900 + 1) + "k:\n" for i in range(_lines_for(size)))) + "body\n"
    ).encode(),
    "long YAML value": lambda size: _yaml(lambda n: "department: " + "a" * n, size, 1),
    "dense YAML at the front-matter limit": lambda size: _padded(
        "x: [" + ",".join("1" for _ in range((DEFAULT_LIMITS.front_matter_bytes - 200) // 2)) + "]", size
    ),
    "unknown keys at the keys limit": lambda size: _padded(
        "".join(f"key{i}: [{', '.join(['v'] * 25)}]\n" for i in range(DEFAULT_LIMITS.keys - 2)), size
    ),
}


def baseline(size: int) -> bytes:
    """A realistic posting of about ``size`` bytes (the benchmarks' generator): the reference."""
    import random

    from bench.generate import posting_text

    return posting_text(random.Random(7), 0, body_bytes=size)[1].encode()


def _padded(front: str, size: int) -> bytes:
    """Front matter ``front`` (up to its limit), and a body of plain words up to ``size``."""
    head = _front(front)
    return (head + "word " * max(1, (size - len(head)) // 5)).encode()


def time_read(raw: bytes, runs: int) -> tuple[float, str]:
    """Median seconds of ``read_posting`` over ``runs``, and what it made of the file."""
    from syndicate.postings.reader import ERROR, read_posting

    tz = ZoneInfo("UTC")
    times = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = read_posting(raw, "hostile.md", tz)
        times.append(time.perf_counter() - started)
    assert result is not None
    errors = [p for p in result.problems if p.level == ERROR]
    outcome = f"left out: {errors[0].field}: {errors[0].message}" if errors else "read"
    return statistics.median(times), outcome


def per_100kb(seconds: float, size: int) -> float:
    """Milliseconds per 100 KB, a file under 100 KB counted as 100 KB."""
    return seconds * 1000 * (100 * 1024) / max(size, 100 * 1024)


def measure(runs: int, max_bytes: int) -> list[dict]:
    rows = []
    for name, make in {**GENERATORS, BASELINE: baseline}.items():
        worst = None
        for size in (s for s in SIZES if s <= max_bytes):
            raw = make(size)[:max_bytes]
            seconds, outcome = time_read(raw, runs)
            row = {"name": name, "bytes": len(raw), "seconds": seconds, "per_100kb": per_100kb(seconds, len(raw))}
            row["outcome"] = outcome
            if worst is None or row["per_100kb"] > worst["per_100kb"]:
                worst = row
        rows.append(worst)
    return rows


def doubling(name: str, runs: int, size: int) -> float:
    """How much longer the generator ``name`` takes for twice the input (min of runs: noise only adds)."""
    make = GENERATORS[name]
    small = min(time_read(make(size), 1)[0] for _ in range(runs))
    large = min(time_read(make(2 * size), 1)[0] for _ in range(runs))
    return large / small


def _poll(base: str, stop: threading.Event, seen: list[tuple[float, str, float]]) -> None:
    """Ask for /healthz and /feed.atom back to back until ``stop``: (when, path, seconds) of each."""
    import requests

    with requests.Session() as session:
        while not stop.is_set():
            for path in ("/healthz", "/feed.atom"):
                started = time.perf_counter()
                answer = session.get(base + path, timeout=30)
                took = time.perf_counter() - started
                assert answer.status_code == 200, (path, answer.status_code)
                seen.append((time.monotonic(), path, took))


def serving(rows: list[dict], seconds: float = 4.0) -> list[tuple[str, float, float, float, float]]:
    """(path, p50 before, p50 during, max before, max during) in ms, dropping the worst files at once."""
    import tempfile

    from bench.generate import generate
    from bench.server import gunicorn

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        postings = root / "postings"
        generate(postings, 300)
        hostile = [(r["name"], GENERATORS[r["name"]](r["bytes"])) for r in rows if r["name"] in GENERATORS][:32]
        env = {"SYNDICATE_RELOAD_INTERVAL": "0.2"}
        with gunicorn("bench.serve_app:app", postings, root / "instance", root / "web.log", env=env) as base:
            seen: list[tuple[float, str, float]] = []
            stop = threading.Event()
            poller = threading.Thread(target=_poll, args=(base, stop, seen))
            poller.start()
            time.sleep(seconds)
            dropped = time.monotonic()
            for n, (_name, raw) in enumerate(hostile):
                (postings / f"hostile-{n:02d}.md").write_bytes(raw)
            time.sleep(seconds)
            stop.set()
            poller.join()
    figures = []
    for path in ("/healthz", "/feed.atom"):
        before = [t * 1000 for at, p, t in seen if p == path and at < dropped]
        during = [t * 1000 for at, p, t in seen if p == path and at >= dropped]
        figures.append((path, statistics.median(before), statistics.median(during), max(before), max(during)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--skip-serve", action="store_true", help="only the read_posting table")
    args = parser.parse_args()
    rows = measure(args.runs, args.max_bytes)
    reference = next(r for r in rows if r["name"] == BASELINE)
    rows = sorted((r for r in rows if r["name"] != BASELINE), key=lambda r: r["per_100kb"], reverse=True)
    table = recording("hostile")  # the prints up to table.write() also go into docs/benchmarks.md
    print(f"read_posting over {len(rows)} adversarial generators, sizes 16 KB to {args.max_bytes // 1024} KB, ")
    print(f"median of {args.runs} runs; per 100 KB counts a file under 100 KB as 100 KB\n")
    print("| generator | worst at | time | per 100 KB | of baseline | outcome |")
    print("|---|---|---|---|---|---|")
    for r in [reference, *rows]:
        outcome = r["outcome"] if len(r["outcome"]) < 90 else r["outcome"][:87] + "..."
        print(f"| {r['name']} | {r['bytes'] / 1024:,.0f} KB | {r['seconds'] * 1000:.1f} ms | "
              f"{r['per_100kb']:.1f} ms | {r['per_100kb'] / reference['per_100kb']:.2f} | {outcome} |")  # fmt: skip
    worst = rows[0]
    ratio = doubling(worst["name"], max(5, args.runs), max(worst["bytes"] // 2, 16 * 1024))
    met = worst["per_100kb"] <= GOAL_MS_PER_100KB
    print(f"\nworst: {worst['name']}, {worst['per_100kb']:.1f} ms per 100 KB (goal <= {GOAL_MS_PER_100KB:.0f}): "
          f"{'met' if met else 'NOT met'}")  # fmt: skip
    print(f"doubling its input multiplies its time by {ratio:.2f} (goal <= 3): {'met' if ratio <= 3 else 'NOT met'}")
    table.write()
    if args.skip_serve:
        return
    figures = serving(rows)
    table = recording("hostile-serve")  # the prints up to table.write() also go into docs/benchmarks.md
    print("\n32 hostile files dropped at once into a served folder of 300 postings (gunicorn.conf.py, 2 workers)\n")
    print("| path | p50 before | p50 while parsing | max before | max while parsing | goal | met |")
    print("|---|---|---|---|---|---|---|")
    for path, p50_before, p50_during, max_before, max_during in figures:
        met = max_during - max_before <= 100
        print(f"| {path} | {p50_before:.1f} ms | {p50_during:.1f} ms | {max_before:.1f} ms | {max_during:.1f} ms "
              f"| max <= 100 ms slower | {'yes' if met else 'no'} |")  # fmt: skip
    table.write()


if __name__ == "__main__":
    main()
