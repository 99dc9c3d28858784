"""Benchmark: requests/s of every cached output against the ceiling for its payload, and of a 304.

    python -m bench.serve [--count 1000] [--rounds 3] [--duration 5] [--only jsonld,trivial]

Generates ``--count`` realistic postings into a temporary folder and starts
gunicorn exactly as the Procfile does (``--workers 2``, no access log) on
``bench.serve_app:app``: the real app, plus ``/_bench/ceiling/<name>``, which
returns the same bytes and headers as each measured path from a variable
computed at import (the most a route of this server can do for that payload),
and ``/_bench/trivial`` (``ok``). After warming every URL, wrk
(``-t2 -c16 --latency``) measures each output and its ceiling, alternating
which goes first, for ``--rounds`` rounds; also a 304 (``If-None-Match`` on
``/feed.atom``) against the trivial route, and gzip answers against their
gzipped ceilings. Every wrk run must have no socket errors and no non-2xx/3xx
answer, and the bytes per answer must match the payload (a 304 must carry no
body), or the run fails. A pair during which other processes kept more than
``--max-foreign`` of the machine busy is measured again once it is quiet (up to
three times). Prints medians of requests/s, the median of each round's ratio
(route and ceiling ran back to back) and the goals as a Markdown table. wrk and
gunicorn share the machine's cores: that is the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.generate import generate
from bench.server import ForeignLoad, gunicorn, problems_in_log, wait_for_quiet
from bench.tables import recording

GOAL = 0.8
ORDER = ["rss", "atom", "json", "indeed", "sitemap", "api", "index", "job", "jsonld"]  # the table's rows
RETRIES = 3
UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class Run:
    rps: float
    bytes_per_answer: float
    p50: float  # seconds


@dataclass
class Target:
    label: str
    url: str
    headers: tuple[str, ...] = ()
    expect_bytes: tuple[int, int] = (0, 1 << 40)  # bounds of the bytes per answer (headers included)
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


def wrk(target: Target, duration: float, threads: int, connections: int) -> Run:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for header in target.headers:
        command += ["-H", header]
    out = subprocess.run([*command, target.url], check=True, capture_output=True, text=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: (.*)", out)
    if bad or sockets:
        raise SystemExit(f"wrk on {target.label} ({target.url}) had failed answers:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read", out)
    answers, read = int(total.group(1)), float(total.group(2)) * UNITS[total.group(3)]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s|m)\b", out)
    run = Run(rps, read / answers, float(p50.group(1)) * TIME_UNITS[p50.group(2)])
    low, high = target.expect_bytes
    if not low <= run.bytes_per_answer <= high:
        raise SystemExit(
            f"wrk on {target.label}: {run.bytes_per_answer:.0f} bytes per answer, expected {low}..{high}:\n{out}"
        )
    return run


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def size_bounds(body_bytes: int) -> tuple[int, int]:
    """Bytes per answer for a body of ``body_bytes``: the body plus 150 to 1,500 bytes of status and headers
    (wrk's count is rounded to three digits, so allow 1% more either way)."""
    return int((body_bytes + 150) * 0.99), int((body_bytes + 1500) * 1.01)


def fmt_size(n: float) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n:.0f} B"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="postings to generate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument(
        "--only", help="comma-separated pairs to measure, by ceiling name (rss, atom, ..., atom.gz, trivial)"
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.1,
        help="measure a pair again (up to 3 times) when other processes used more than this share of the machine",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed")

    with tempfile.TemporaryDirectory(prefix="syndicate-bench-") as tmp:
        root = Path(tmp)
        generate(root / "postings", args.count)
        log = root / "gunicorn.log"
        with gunicorn("bench.serve_app:app", root / "postings", root / "instance", log) as base:
            info = json.loads(fetch(base + "/_bench/paths")[2])
            paths, etags, sizes = info["paths"], info["etags"], info["sizes"]
            pairs: list[tuple[Target, Target]] = []
            for name in sorted(paths, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER)):
                path = paths[name]
                bounds = size_bounds(sizes[name])
                ceiling = Target(name, f"{base}/_bench/ceiling/{name}", (), bounds)
                pairs.append((Target(path, base + path, (), bounds), ceiling))
            for name in ("atom", "indeed"):
                bounds = size_bounds(sizes[f"{name}.gz"])
                gz = ("Accept-Encoding: gzip",)
                pairs.append(
                    (
                        Target(f"{paths[name]}, gzip", base + paths[name], gz, bounds),
                        Target(f"{name}.gz", f"{base}/_bench/ceiling/{name}.gz", gz, bounds),
                    )
                )
            conditional = (f"If-None-Match: {etags['atom']}",)
            pairs.append(
                (
                    Target("304 on /feed.atom (If-None-Match)", base + paths["atom"], conditional, (100, 1000)),
                    Target("trivial", base + "/_bench/trivial", (), (100, 1000)),
                )
            )

            # warm: every worker renders and compresses each output (and a 304 really is one)
            if args.only:
                pairs = [pair for pair in pairs if pair[1].label in args.only.split(",")]
            for output, ceiling in pairs:
                for target in (output, ceiling):
                    headers = dict(h.split(": ", 1) for h in target.headers)
                    for _ in range(20):
                        status, _, body = fetch(target.url, headers)
                        wanted = 304 if "If-None-Match" in headers else 200
                        if status != wanted:
                            raise SystemExit(f"{target.url}: {status}, expected {wanted}")
                    if status == 304 and body:
                        raise SystemExit("the 304 answer has a body")
            for name in sizes:  # the ceiling serves the very bytes the route serves
                path, headers = paths[name.removesuffix(".gz")], {"Accept-Encoding": "gzip"} if ".gz" in name else {}
                if fetch(base + path, headers)[2] != fetch(f"{base}/_bench/ceiling/{name}", headers)[2]:
                    raise SystemExit(f"{path} ({name}): the route's bytes differ from the ceiling's")

            meter, foreign = ForeignLoad(), []
            for round_ in range(args.rounds):
                for output, ceiling in pairs:
                    order = (output, ceiling) if round_ % 2 == 0 else (ceiling, output)
                    for attempt in range(1, RETRIES + 1):  # a pair disturbed by other jobs is measured again
                        meter.start()
                        runs = [wrk(target, args.duration, args.threads, args.connections) for target in order]
                        share = meter.stop()
                        if share <= args.max_foreign or attempt == RETRIES:
                            break
                        print(f"  others used {share:.0%} of the machine: again, once it is quiet", file=sys.stderr)
                        wait_for_quiet(args.max_foreign)
                    foreign.append(share)
                    for target, run in zip(order, runs, strict=True):
                        target.runs.append(run)
                    print(
                        f"round {round_ + 1}: {output.label}: {output.runs[-1].rps:.0f} req/s, "
                        f"ceiling {ceiling.runs[-1].rps:.0f} req/s (others: {share:.0%} of the machine)",
                        file=sys.stderr,
                    )
        problems = problems_in_log(log)

    table = recording("serve")  # the prints up to table.write() also go into docs/benchmarks.md
    print(
        f"\n{args.count} postings; gunicorn.conf.py, --workers 2 (gthread, 8 threads); "
        f"wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration:g}s, {args.rounds} rounds, medians; {os.cpu_count()} cores shared by wrk and gunicorn; "
        f"other processes used at most {max(foreign):.0%} of the machine during a kept measurement\n"
    )
    print("| answer | bytes | req/s | ceiling req/s | ratio | p50 latency, route / ceiling | goal | met |")
    print("|---|---|---|---|---|---|---|---|")
    missed = 0
    for output, ceiling in pairs:
        # each round's route and ceiling ran back to back: their ratio is immune to drift between rounds
        ratio = statistics.median(o.rps / c.rps for o, c in zip(output.runs, ceiling.runs, strict=True))
        met = ratio >= GOAL
        missed += not met
        what = "trivial route" if ceiling.label == "trivial" else "ceiling"
        print(
            f"| {output.label} | {fmt_size(output.median('bytes_per_answer'))} | {output.median('rps'):,.0f} "
            f"| {ceiling.median('rps'):,.0f} | {ratio:.2f} | {output.median('p50') * 1000:.2f} ms / "
            f"{ceiling.median('p50') * 1000:.2f} ms | >= {GOAL} of {what} | {'yes' if met else 'NO'} |"
        )
    if problems:
        print(f"\nserver log: {len(problems)} error line(s), first: {problems[0]}")
    table.write(keep=not args.only)  # a partial run leaves the docs alone
    if missed:
        print(f"\n{missed} goal(s) missed", file=sys.stderr)


if __name__ == "__main__":
    main()
