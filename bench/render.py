"""Benchmark: cold render time of every output for 1,000 and 10,000 postings, and file change to new bytes.

    python -m bench.render [--counts 1000,10000] [--runs 5] [--edits 10]

Render: for each count, generates realistic postings (~4 KB) into a temporary
folder and, in a fresh process, loads them (``PostingLoader`` + ``Store``, as
``bench.load``), then times each ``syndicate.outputs.render`` function on a fresh
``Catalog`` (so the listed set is computed again, as after a reload) ``--runs``
times and takes the median: the RSS, Atom and JSON feeds with the default page
size and with one page of every posting, the Indeed feed, the sitemap, the API
list, the index, and one posting's page, JSON-LD and API object (median over
many postings). A cache miss also compresses the body once (``gzip``, shown
apart) before the cached entry is shared; the first call in the process (Jinja
templates compiled, feedgen and lxml warmed) is shown too. Each count starts
once other processes leave the machine quiet, and the share of it they used
meanwhile is printed.

Change to served: gunicorn as the Procfile starts it (``--workers 2``, the
default ``SYNDICATE_RELOAD_INTERVAL``) over 1,000 postings; ``--edits`` times,
the newest posting's title is changed on disk (a temporary file, then
``os.replace``) at a random moment while a background client keeps requesting
``/_bench/trivial`` every 10 ms (so each worker checks the folder on its own
schedule, as under real traffic, not just when the first poll comes), and ``/feed.atom`` and ``/jobs/<id>`` are
polled back to back until each answers with the new title (first new bytes),
then for 1.5 s more to see when every worker serves them (the last old answer).
Prints medians as Markdown tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import generate
from bench.server import REPO_ROOT, ForeignLoad, gunicorn, problems_in_log, wait_for_quiet
from bench.tables import recording

PAGE_SIZE = 50  # SYNDICATE_PAGE_SIZE's default
BASE = "https://jobs.example"
SINGLE_SAMPLE = 200  # postings whose own outputs are timed, per run


def child(folder: Path, database: Path, runs: int) -> dict[str, dict[str, float]]:
    """Load ``folder`` and time each output; {output: {first, render, gzip, bytes}} (seconds, bytes)."""
    from zoneinfo import ZoneInfo

    from syndicate import outputs
    from syndicate.clock import system_clock as utcnow
    from syndicate.outputs.catalog import Catalog
    from syndicate.outputs.filters import NO_FILTER
    from syndicate.outputs.render import Site
    from syndicate.outputs.urls import Links
    from syndicate.postings.loader import PostingLoader
    from syndicate.store.engine import Store

    store = Store(f"sqlite:///{database}")
    store.migrate()
    snapshot = PostingLoader(folder, store, ZoneInfo("UTC"), 1 << 20).refresh()
    links = Links.from_base(BASE)
    now = utcnow()
    changed_at = now
    probe = Catalog(snapshot, changed_at)
    live_count = len(probe.live(probe.epoch(now)))
    site = Site("Open positions", PAGE_SIZE)
    whole = Site("Open positions", live_count)
    sample = sorted(snapshot.postings.values(), key=lambda p: p.id)[:SINGLE_SAMPLE]

    lists: dict[str, Callable[[Catalog, int], object]] = {
        "catalog (sort, expiry times, listed set)": lambda c, e: c.live(e),
        f"RSS, page of {PAGE_SIZE}": lambda c, e: outputs.feed("rss", c, e, NO_FILTER, 1, links, site),
        f"Atom, page of {PAGE_SIZE}": lambda c, e: outputs.feed("atom", c, e, NO_FILTER, 1, links, site),
        f"JSON Feed, page of {PAGE_SIZE}": lambda c, e: outputs.feed("json", c, e, NO_FILTER, 1, links, site),
        "RSS, every posting": lambda c, e: outputs.feed("rss", c, e, NO_FILTER, 1, links, whole),
        "Atom, every posting": lambda c, e: outputs.feed("atom", c, e, NO_FILTER, 1, links, whole),
        "JSON Feed, every posting": lambda c, e: outputs.feed("json", c, e, NO_FILTER, 1, links, whole),
        "Indeed XML (every posting)": lambda c, e: outputs.indeed_feed(c, e, NO_FILTER, links, site),
        "sitemap (every posting)": lambda c, e: outputs.sitemap_xml(c, e, links),
        f"API list, page of {PAGE_SIZE}": lambda c, e: outputs.api_list(c, e, NO_FILTER, 1, links, site),
        f"index page, {PAGE_SIZE} postings": lambda c, e: outputs.index_page(c, e, NO_FILTER, 1, links, site),
    }
    singles: dict[str, Callable[[object], object]] = {
        "one job page (HTML + JSON-LD)": lambda p: outputs.job_page(p, links, site),
        "one JSON-LD document": lambda p: outputs.jsonld_document(p, links),
        "one API posting": lambda p: outputs.api_posting(p, links),
    }

    def timed(call: Callable[..., object], *args: object) -> tuple[float, object]:
        started = time.perf_counter()
        result = call(*args)
        return time.perf_counter() - started, result

    def gzip_time(rendered: object) -> float:
        started = time.perf_counter()
        gzip.compress(rendered.body, 6, mtime=0)  # what the render cache does before it shares an entry
        return time.perf_counter() - started

    figures: dict[str, dict[str, float]] = {}
    for name, render in lists.items():
        times, zips = [], []
        for run in range(runs + 1):  # run 0 is the process's first call
            catalog = Catalog(snapshot, changed_at)  # fresh: nothing derived from the snapshot is reused
            epoch = catalog.epoch(now)
            if name.startswith("catalog"):
                started = time.perf_counter()
                catalog = Catalog(snapshot, changed_at)
                catalog.live(catalog.epoch(now))
                took, rendered = time.perf_counter() - started, None
            else:
                took, rendered = timed(render, catalog, epoch)
            if run == 0:
                figures[name] = {"first": took}
                continue
            times.append(took)
            if rendered is not None:
                zips.append(gzip_time(rendered))
                figures[name]["bytes"] = len(rendered.body)
        figures[name].update(render=statistics.median(times), gzip=statistics.median(zips) if zips else 0.0)
    for name, render in singles.items():
        first, _ = timed(render, sample[-1])
        per_run, zips, sizes = [], [], []
        for _ in range(runs):
            for posting in sample:
                took, rendered = timed(render, posting)
                per_run.append(took)
                zips.append(gzip_time(rendered))
                sizes.append(len(rendered.body))
        figures[name] = {
            "first": first,
            "render": statistics.median(per_run),
            "gzip": statistics.median(zips) if statistics.median(sizes) >= 1024 else 0.0,  # GZIP_FROM_BYTES
            "bytes": statistics.median(sizes),
        }
    figures["_meta"] = {"postings": len(snapshot.postings), "live": live_count}
    store.close()
    return figures


# --- file change to new bytes served ---------------------------------------------------------------------------


def _background(url: str, stop: threading.Event) -> None:
    import requests

    with requests.Session() as http:
        while not stop.wait(0.01):
            http.get(url, timeout=30).raise_for_status()


def change_latency(edits: int, count: int, root: Path) -> list[dict[str, float]]:
    import requests

    folder = root / "served-postings"
    paths = {p.stem: p for p in generate(folder, count)}
    log = root / "gunicorn-change.log"
    results = []
    rng = random.Random(1)
    with gunicorn("bench.serve_app:app", folder, root / "served-instance", log) as base, requests.Session() as http:
        # steady background traffic, so each worker checks the folder on its own schedule, not when an edit comes
        stop = threading.Event()
        background = threading.Thread(target=_background, args=(f"{base}/_bench/trivial", stop), daemon=True)
        background.start()
        newest = http.get(f"{base}/api/postings", timeout=30).json()["postings"][0]["id"]
        path = paths[newest]
        urls = {"feed": f"{base}/feed.atom", "job": f"{base}/jobs/{newest}"}
        for url in urls.values():
            http.get(url, timeout=30).raise_for_status()
        for edit in range(edits):
            time.sleep(rng.uniform(0.5, 1.5))  # a random moment against each worker's check interval
            title = f"Edited Title {edit} {rng.randrange(1 << 30):x}"
            text = path.read_text(encoding="utf-8")
            lines = [f'title: "{title}"' if line.startswith("title:") else line for line in text.split("\n")]
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text("\n".join(lines), encoding="utf-8")
            started = time.monotonic()
            os.replace(temporary, path)
            first: dict[str, float] = {}
            last_old: dict[str, float] = {}
            settle_until = None
            while settle_until is None or time.monotonic() < settle_until:
                for name, url in urls.items():
                    response = http.get(url, timeout=30)
                    response.raise_for_status()
                    at = time.monotonic() - started
                    if title in response.text:
                        first.setdefault(name, at)
                    else:
                        last_old[name] = at
                if len(first) == len(urls) and settle_until is None:
                    settle_until = time.monotonic() + 1.5
                if time.monotonic() - started > 30:
                    raise SystemExit(f"edit {edit}: the new title was not served within 30 s")
            results.append(
                {
                    **{f"{name}_first": first[name] for name in urls},
                    **{f"{name}_all": max(first[name], last_old.get(name, 0.0)) for name in urls},
                }
            )
            print(f"edit {edit + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[-1].items()), file=sys.stderr)
        stop.set()
        background.join()
    problems = problems_in_log(log)
    if problems:
        print(f"server log: {len(problems)} error line(s), first: {problems[0]}", file=sys.stderr)
    return results


def ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def size(n: float) -> str:
    return f"{n / 1024:.0f} KB" if n >= 10240 else f"{n / 1024:.1f} KB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1000,10000", help="comma-separated posting counts")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--edits", type=int, default=10, help="file changes timed against the server (0: skip)")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "DATABASE", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))))
        return

    counts = [int(c) for c in args.counts.split(",")]
    by_count: dict[int, dict[str, dict[str, float]]] = {}
    meter, foreign = ForeignLoad(), {}
    with tempfile.TemporaryDirectory(prefix="syndicate-bench-") as tmp:
        root = Path(tmp)
        for count in counts:
            folder = root / f"postings-{count}"
            generate(folder, count)
            database = root / f"{count}.db"
            wait_for_quiet()
            meter.start()
            out = subprocess.run(
                [sys.executable, "-m", "bench.render", "--child", str(folder), str(database), str(args.runs)],
                capture_output=True,
                text=True,
                cwd=REPO_ROOT,
            )
            if out.returncode:
                raise SystemExit(f"rendering {count} postings failed:\n{out.stderr}")
            foreign[count] = meter.stop()
            by_count[count] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{count} postings rendered", file=sys.stderr)
        edits = change_latency(args.edits, 1000, root) if args.edits else []

    others = " / ".join(f"{foreign[c]:.0%}" for c in counts)
    table = recording("render")  # the prints up to table.write() also go into docs/benchmarks.md
    print(
        f"\nCold render, medians of {args.runs} runs, each on a fresh Catalog; {os.cpu_count()} cores; "
        f"other processes kept {others} of the machine busy meanwhile\n"
    )
    header = "| output |" + "".join(f" {c:,} postings: render | gzip | size | first call |" for c in counts)
    print(header)
    print("|---|" + "---|---|---|---|" * len(counts))
    for name in by_count[counts[0]]:
        if name == "_meta":
            continue
        cells = []
        for c in counts:
            f = by_count[c][name]
            gz = ms(f["gzip"]) if f.get("gzip") else ""
            cells.append(f" {ms(f['render'])} | {gz} | {size(f['bytes']) if 'bytes' in f else ''} | {ms(f['first'])} |")
        print(f"| {name} |" + "".join(cells))
    print(
        "\n"
        + "; ".join(f"{c:,} postings: {by_count[c]['_meta']['live']:.0f} open" for c in counts)
        + f"; single-posting outputs: median over {SINGLE_SAMPLE} postings x {args.runs} runs"
    )
    table.write()

    if edits:
        table = recording("render-edits")  # the prints up to table.write() also go into docs/benchmarks.md
        print(
            "\nFile change to new bytes served: gunicorn.conf.py, --workers 2, 1,000 postings, "
            "SYNDICATE_RELOAD_INTERVAL "
            f"default (1 s), {len(edits)} edits, polled back to back\n"
        )
        print("| path | first new answer, median | max | every answer new (both workers), median | max |")
        print("|---|---|---|---|---|")
        for name, label in (("feed", "/feed.atom"), ("job", "/jobs/<id>")):
            first = [e[f"{name}_first"] for e in edits]
            every = [e[f"{name}_all"] for e in edits]
            print(
                f"| {label} | {ms(statistics.median(first))} | {ms(max(first))} | "
                f"{ms(statistics.median(every))} | {ms(max(every))} |"
            )
        table.write()


if __name__ == "__main__":
    main()
