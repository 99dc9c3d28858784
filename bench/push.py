"""Benchmark: webhook delivery through the real worker, against a bare requests loop to the same sink.

    python -m bench.push [--postings 1000] [--boards 3] [--runs 3]

1. Throughput: ``Worker.cycle()`` (scan, enqueue, claim, sign, send, record) for
   every posting x board into a fast local sink (``bench.fastsink``, another
   process, asyncio, answering 204 at once), against a bare sequential ``requests.Session`` loop posting bodies
   of the same size to the same sink: the ceiling. Goal: >= 0.5 of the ceiling.
2. Slow sink (answers after 50 ms): deliveries/s against boards x concurrency / 50 ms
   (each board has its own lane of ``SYNDICATE_DELIVERY_CONCURRENCY`` attempts). Goal: >= 0.7 of it.
3. Latency from saving a posting file to the sink receiving its event, with the
   worker process running (``syndicate worker``). Goal: p95 <= 2 s.

Each run uses a fresh SQLite database; medians over the runs are printed as a
Markdown table with the goals.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.generate import generate
from bench.sink import DEMO_SECRET, Sink
from bench.tables import recording

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_sink(port: int, delay_ms: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fastsink", "--port", str(port), "--delay-ms", str(delay_ms)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # "fast sink listening on ..."
    return process


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boards_file(folder: Path, url: str, count: int) -> Path:
    path = folder / "boards.toml"
    path.write_text(
        "".join(f'[[boards]]\nname = "board-{n}"\nurl = "{url}"\nsecret = "{DEMO_SECRET}"\n' for n in range(count)),
        encoding="utf-8",
    )
    return path


def ceiling(url: str, count: int, size: int) -> float:
    """Deliveries per second of a bare sequential requests loop: no signing, no database."""
    body = b"x" * size
    with requests.Session() as session:
        started = time.perf_counter()
        for _ in range(count):
            response = session.post(url, data=body, headers={"content-type": "application/json"}, timeout=10)
            assert response.status_code == 204
        return count / (time.perf_counter() - started)


def worker_run(postings: Path, boards: Path, concurrency: int) -> tuple[float, int, int]:
    """(deliveries/s, deliveries, mean body bytes) of one cycle of a fresh worker over a fresh database."""
    from syndicate.push.worker import Worker
    from syndicate.services import build_services
    from syndicate.settings import load_settings

    with tempfile.TemporaryDirectory() as instance:
        settings = load_settings(
            environ={},
            overrides={
                "postings_dir": postings,
                "instance_dir": Path(instance),
                "boards_path": boards,
                "delivery_concurrency": concurrency,
                "base_url": "https://jobs.example",
            },
        )
        svc = build_services(settings)  # loading the postings is not part of the measure
        svc.store.migrate()
        svc.database.check()
        svc.loader.refresh()
        worker = Worker(settings, svc.store, svc.loader)
        started = time.perf_counter()
        report = worker.cycle()
        elapsed = time.perf_counter() - started
        sizes = [len(d.body) for d in worker.outbox.log.deliveries(limit=100)]
        worker.stop()
        svc.store.close()
    assert report.outcomes == {"succeeded": report.events}, report.outcomes
    return report.events / elapsed, report.events, int(statistics.mean(sizes))


def latency(postings: Path, samples: int) -> list[float]:
    """Seconds from saving a file to the sink receiving its event, worker process running."""
    sink = Sink(quiet=True).start()
    with tempfile.TemporaryDirectory() as instance:
        boards = boards_file(Path(instance), sink.url, 1)
        env = {
            **os.environ,
            "SYNDICATE_POSTINGS_DIR": str(postings),
            "SYNDICATE_INSTANCE_DIR": instance,
            "SYNDICATE_BOARDS": str(boards),
            "SYNDICATE_BASE_URL": "https://jobs.example",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "worker"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline, quiet_since, seen = time.monotonic() + 300, time.monotonic(), -1
            while time.monotonic() < deadline and (seen <= 0 or time.monotonic() - quiet_since < 2):  # the backfill
                if len(sink.events) != seen:
                    seen, quiet_since = len(sink.events), time.monotonic()
                time.sleep(0.1)
            files = sorted(postings.rglob("*.md"))
            figures = []
            for n in range(samples * 3):
                if len(figures) == samples:
                    break
                target = files[n * 7 % len(files)]
                text = target.read_text(encoding="utf-8")
                if not _open(text):
                    continue
                marker = f"latency probe {n}"
                seen = len(sink.events)
                started = time.monotonic()
                target.write_text(text.replace("\n---\n", f"\n---\n\n{marker}\n", 1), encoding="utf-8")
                while time.monotonic() - started < 30:
                    with sink.lock:
                        if any(marker.encode() in e["body"] for e in sink.events[seen:]):
                            break
                    time.sleep(0.005)
                figures.append(time.monotonic() - started)
                time.sleep(0.3)
            return figures
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            sink.shutdown()
            sink.server_close()


def _open(text: str) -> bool:
    """A generated posting that is listed (so its edit is owed to the board)."""
    head = text.split("\n---\n", 1)[0]
    return "status: closed" not in head and "status: draft" not in head and "valid_through: 2020" not in head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=1000)
    parser.add_argument("--boards", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow-postings", type=int, default=100)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        postings = work_dir / "postings"
        generate(postings, args.postings, seed=11)
        open_count = None

        port = free_port()
        fast = start_sink(port, 0)
        url = f"http://127.0.0.1:{port}/hooks/jobs"
        try:
            boards = boards_file(work_dir, url, args.boards)
            ceilings, rates = [], []
            for _ in range(args.runs):
                rate, count, size = worker_run(postings, boards, concurrency=8)
                open_count = count
                rates.append(rate)
                ceilings.append(ceiling(url, count, size))
        finally:
            fast.terminate()
            fast.wait()
        top, got = statistics.median(ceilings), statistics.median(rates)
        rows.append(("bare sequential requests loop, same sink (ceiling)", f"{top:,.0f}/s", "1.00", "", ""))
        rows.append(
            (
                f"worker: {open_count} deliveries ({args.postings} postings x {args.boards} boards, scan included)",
                f"{got:,.0f}/s",
                f"{got / top:.2f}",
                ">= 0.5 of ceiling",
                "yes" if got >= 0.5 * top else "NO",
            )
        )

        slow_postings = work_dir / "slow"
        generate(slow_postings, args.slow_postings, seed=12)
        port = free_port()
        slow = start_sink(port, 50)
        try:
            boards = boards_file(work_dir, f"http://127.0.0.1:{port}/hooks/jobs", args.boards)
            slow_rates = [worker_run(slow_postings, boards, concurrency=8)[0] for _ in range(args.runs)]
        finally:
            slow.terminate()
            slow.wait()
        ideal = 8 * args.boards / 0.050
        slow_rate = statistics.median(slow_rates)
        rows.append(
            (
                f"worker, sink answering after 50 ms (8 in flight per board x {args.boards}; ideal {ideal:,.0f}/s)",
                f"{slow_rate:,.0f}/s",
                f"{slow_rate / ideal:.2f}",
                ">= 0.7 of ideal",
                "yes" if slow_rate >= 0.7 * ideal else "NO",
            )
        )

        figures = sorted(latency(slow_postings, args.latency_samples))
        p50 = statistics.median(figures)
        p95 = figures[min(len(figures) - 1, round(0.95 * (len(figures) - 1)))]
        rows.append(
            (
                f"file saved -> sink received, worker running (p50 / p95 of {len(figures)})",
                f"{p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms",
                "",
                "p95 <= 2 s",
                "yes" if p95 <= 2 else "NO",
            )
        )

    table = recording("push")  # the prints up to table.write() also go into docs/benchmarks.md
    print("| measure | rate or time | ratio | goal | met |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    table.write()


if __name__ == "__main__":
    main()
