"""Benchmark: from saving a file that closes a posting to the last channel receiving its call.

    python -m bench.channels [--changes 20] [--postings 30] [--no-write]

The web (gunicorn as the Procfile starts it) and the worker (``syndicate worker``) run as their own
processes with every interval at its default, over ``--postings`` open postings, with four channels
configured: a webhook board (``bench.sink``, verifying signatures), the Google Indexing API
(``bench.fake_google``, verifying the JWT), IndexNow (``bench.fake_indexnow``, fetching the key from
the web) and a WebSub hub (``bench.fake_hub``, fetching each topic from the web). Once the backfill
is over, ``--changes`` times a posting's file is rewritten with ``status: closed`` (a temporary
file, then ``os.replace``) and the clock starts; each channel's time is when its peer first holds
a call about that posting (the webhook's ``posting.closed``, Google's ``URL_DELETED`` of its page,
the page in an IndexNow ``urlList``, a hub publish of ``/feed.atom`` whose fetched feed no longer
lists it). The changes are spaced by a random 0.3-0.8 s after the last arrival, so they fall at any
moment of the worker's watch.

The webhook, the first channel there was, is the baseline: each row shows its p50 and p95 and the
ratio of its median to the webhook's. Goal: the last channel's p95 <= 2 s. WebSub waits, by
design, ``SYNDICATE_RELOAD_INTERVAL`` + 0.5 s after a change before it publishes (a hub that
fetches sooner could get the old feed from a web worker that has not re-read the folder yet).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.fake_google import FakeGoogle, google_toml, service_account_file
from bench.fake_hub import Hub
from bench.fake_indexnow import IndexNowEndpoint
from bench.server import REPO_ROOT, gunicorn
from bench.sink import DEMO_SECRET, Sink
from bench.tables import recording

KEY = "bench-indexnow-key-0123456789"
GOAL_P95 = 2.0


def posting(n: int, closed: bool = False) -> str:
    status = "status: closed\n" if closed else ""
    return (
        f"---\nid: job-{n:03d}\ntitle: Engineer {n}\ncompany: Acme\n{status}employment_type: FULL_TIME\n"
        f"date_posted: 2026-11-01\napply_url: https://jobs.example/apply/{n}\ntags: [rust, bench]\n---\n"
        f"Build things, number {n}.\n"
    )


def replace(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(changes: int, count: int) -> dict[str, list[float]]:
    sink, google, indexnow, hub = (
        Sink(quiet=True).start(),
        FakeGoogle().start(),
        IndexNowEndpoint().start(),
        Hub().start(),
    )
    try:
        with tempfile.TemporaryDirectory() as work:
            return run_in(Path(work), changes, count, sink, google, indexnow, hub)
    finally:
        for peer in (sink, indexnow, hub):
            peer.shutdown()
        google.close()


def run_in(
    folder: Path, changes: int, count: int, sink: Sink, google: FakeGoogle, indexnow: IndexNowEndpoint, hub: Hub
) -> dict[str, list[float]]:
    postings, instance = folder / "postings", folder / "instance"
    postings.mkdir()
    instance.mkdir()
    for n in range(count):
        (postings / f"job-{n:03d}.md").write_text(posting(n), encoding="utf-8")
    key = service_account_file(folder / "secrets" / "google.json", google.account())
    boards = folder / "boards.toml"
    boards.write_text(
        f'[[boards]]\nname = "hooks"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n\n'
        + google_toml("google", google, credentials_file=str(key.relative_to(folder)))
        + f'\n[[boards]]\nname = "indexnow"\nkind = "indexnow"\nendpoint = "{indexnow.url}"\nkey = "{KEY}"\n',
        encoding="utf-8",
    )
    env = {"SYNDICATE_BOARDS": str(boards), "SYNDICATE_WEBSUB_HUBS": hub.url}
    with gunicorn("bench.serve_app:app", postings, instance, folder / "web.log", env) as base:
        worker_env = {
            **os.environ,
            "SYNDICATE_POSTINGS_DIR": str(postings),
            "SYNDICATE_INSTANCE_DIR": str(instance),
            "SYNDICATE_BASE_URL": base,
            **env,
        }
        worker_env.pop("DATABASE_URL", None)
        with open(folder / "worker.log", "w", encoding="utf-8") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "syndicate", "worker"], cwd=REPO_ROOT, env=worker_env, stdout=log, stderr=log
            )
            try:
                return measure(changes, count, postings, base, sink, google, indexnow, hub)
            except SystemExit:
                print((folder / "worker.log").read_text(encoding="utf-8")[-3000:], file=sys.stderr)
                raise
            finally:
                worker.terminate()
                worker.wait(timeout=30)


def measure(
    changes: int,
    count: int,
    postings: Path,
    base: str,
    sink: Sink,
    google: FakeGoogle,
    indexnow: IndexNowEndpoint,
    hub: Hub,
) -> dict[str, list[float]]:
    def backfilled() -> bool:
        return len(sink.events) >= count and len(google.calls) >= count and hub.publishes() > 0

    deadline = time.monotonic() + 120
    while not backfilled() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not backfilled():
        raise SystemExit("the backfill did not arrive: see the worker's log")
    time.sleep(2)
    rng = random.Random(7)
    figures: dict[str, list[float]] = {"webhook": [], "google-indexing": [], "indexnow": [], "websub": [], "last": []}
    for n in range(changes):
        page, seen = f"{base}/jobs/job-{n:03d}", len(indexnow.calls)
        probes: dict[str, Callable[[], bool]] = {
            "webhook": lambda n=n: any(
                e["payload"]["type"] == "posting.closed" and e["payload"]["data"]["id"] == f"job-{n:03d}"
                for e in list(sink.events)
            ),
            "google-indexing": lambda page=page: ("URL_DELETED", page) in google.notified(),
            "indexnow": lambda page=page, seen=seen: any(page in u for u in indexnow.urls()[seen:]),
            "websub": lambda page=page: hub.fetched_without(f"{base}/feed.atom", page),
        }
        arrived: dict[str, float] = {}
        started = time.monotonic()
        replace(postings / f"job-{n:03d}.md", posting(n, closed=True))
        while len(arrived) < len(probes) and time.monotonic() - started < 30:
            for name, probe in probes.items():
                if name not in arrived and probe():
                    arrived[name] = time.monotonic() - started
            time.sleep(0.005)
        missing = set(probes) - set(arrived)
        if missing:
            raise SystemExit(f"change {n}: no call within 30 s on {', '.join(sorted(missing))}")
        for name, seconds in arrived.items():
            figures[name].append(seconds)
        figures["last"].append(max(arrived.values()))
        time.sleep(rng.uniform(0.3, 0.8))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--postings", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    figures = run(args.changes, max(args.postings, args.changes))
    baseline = statistics.median(figures["webhook"])
    table = recording("channels")
    print(f"One close, saved to received, {args.changes} changes, every interval at its default:\n")
    print("| channel | p50 | p95 | median / webhook's |")
    print("|---|---|---|---|")
    for name, values in figures.items():
        label = "last of the four" if name == "last" else name
        median = statistics.median(values)
        print(f"| {label} | {median:.2f} s | {percentile(values, 0.95):.2f} s | {median / baseline:.2f} |")
    p95 = percentile(figures["last"], 0.95)
    verdict = "met" if p95 <= GOAL_P95 else "missed"
    print(f"\nGoal: the last channel's p95 <= {GOAL_P95:g} s: {p95:.2f} s, {verdict}.")
    table.write(keep=not args.no_write)


if __name__ == "__main__":
    main()
