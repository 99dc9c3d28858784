"""Benchmark: loading 10,000 postings, cold and warm, a no-change check and a one-file reload.

    python -m bench.load [--count 10000] [--runs 3]

Generates realistic postings (~4 KB) into a temporary folder, then runs each
repetition in a fresh process (so imports, caches and peak memory are its own):
cold load on an empty database, a no-change check, a warm start (new loader,
render cache filled) and a reload after one file changed. In the same run it
times the naive baseline, python-frontmatter + markdown-it-py over the same
files, and prints medians, ratios and the goals as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.generate import generate
from bench.tables import recording

GOALS = {
    "cold": ("<= 3 s", lambda r: r["cold"] <= 3.0),
    "warm": ("<= 15% of cold", lambda r: r["warm"] <= 0.15 * r["cold"]),
    "no_change": ("<= 2% of cold", lambda r: r["no_change"] <= 0.02 * r["cold"]),
    "one_file": ("<= 2% of cold", lambda r: r["one_file"] <= 0.02 * r["cold"]),
}


def child(mode: str, folder: Path, database: Path) -> dict[str, float]:
    """One repetition's half, in its own process: ``cold`` (cold load, no-change check,
    one-file reload) or ``warm`` (a restart: new process, render cache filled)."""
    from syndicate.postings.loader import PostingLoader
    from syndicate.store.engine import Store

    tz = ZoneInfo("UTC")
    store = Store(f"sqlite:///{database}")
    store.migrate()
    figures: dict[str, float] = {}
    files = sorted(folder.rglob("*.md"))

    started = time.perf_counter()
    loader = PostingLoader(folder, store, tz, 1 << 20)
    snapshot = loader.refresh()
    figures[mode] = time.perf_counter() - started
    assert len(snapshot.postings) == len(files), "every generated posting loads"

    if mode == "cold":
        started = time.perf_counter()
        assert loader.refresh() is snapshot
        figures["no_change"] = time.perf_counter() - started

        target = files[len(files) // 2]
        target.write_text(target.read_text(encoding="utf-8").replace("Main Street", "High Street"), encoding="utf-8")
        started = time.perf_counter()
        changed = loader.refresh()
        figures["one_file"] = time.perf_counter() - started
        assert changed.version != snapshot.version and changed.generation == 2

    figures[f"{mode}_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures[f"{mode}_pool_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    store.close()
    return figures


def naive_baseline(folder: Path) -> float:
    """What a straightforward loader costs: python-frontmatter + markdown-it-py, no cache, one core."""
    import frontmatter
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    started = time.perf_counter()
    for path in sorted(folder.rglob("*.md")):
        post = frontmatter.load(path)
        md.render(post.content)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "DATABASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return

    with tempfile.TemporaryDirectory(prefix="syndicate-bench-") as tmp:
        root = Path(tmp)
        runs = []
        for run in range(args.runs):
            folder = root / f"postings-{run}"
            generate(folder, args.count)  # a fresh copy per run: the one-file edit must not carry over
            figures: dict[str, float] = {}
            for mode in ("cold", "warm"):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.load", "--child", mode, str(folder), str(root / f"run-{run}.db")],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=Path(__file__).resolve().parent.parent,
                )
                figures.update(json.loads(out.stdout.strip().splitlines()[-1]))
            runs.append(figures)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items()), file=sys.stderr)
        baseline = naive_baseline(root / "postings-0")

    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    cold = median["cold"]
    table = recording("load")  # the prints up to table.write() also go into docs/benchmarks.md
    print(f"\n{args.count} postings, {args.runs} runs, medians; {os.cpu_count()} cores\n")
    print("| measure | time | ratio | goal | met |")
    print("|---|---|---|---|---|")
    print(
        f"| naive baseline (python-frontmatter + markdown-it-py, one core) | {baseline:.2f} s | 1.00 of baseline | | |"
    )
    print(
        f"| cold load (empty database) | {cold:.2f} s | {cold / baseline:.2f} of baseline | <= 3 s | "
        f"{'yes' if GOALS['cold'][1](median) else 'NO'} |"
    )
    for key, label in (
        ("warm", "warm start (a restart: new process, render cache filled)"),
        ("no_change", "no-change check"),
        ("one_file", "reload after one file changed"),
    ):
        goal, met = GOALS[key]
        print(
            f"| {label} | {median[key] * 1000:.0f} ms | {median[key] / cold:.1%} of cold | {goal} | "
            f"{'yes' if met(median) else 'NO'} |"
        )
    print(
        f"| peak memory, cold load (loader process / parse pool process) | {median['cold_rss_mib']:.0f} MiB / "
        f"{median['cold_pool_rss_mib']:.0f} MiB | | | |"
    )
    print(f"| peak memory, warm start | {median['warm_rss_mib']:.0f} MiB | | | |")
    table.write()


if __name__ == "__main__":
    main()
