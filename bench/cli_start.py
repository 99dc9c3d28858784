"""Benchmark: how long a CLI command takes from start to exit, against a bare interpreter and against an
earlier revision, measured in the same run.

    python -m bench.cli_start [--runs 15] [--before REV] [--no-write]

Each command runs ``--runs`` times as its own process (``python -m syndicate ...``, what the console
script runs), interleaved with the others so that a busy moment of the machine falls on all of them;
the median wall time is shown with its ratio to ``python -c pass`` (the interpreter's own start, the
floor). With ``--before REV`` (default: the revision before the lazy command loading, 5ce8f44) the
same commands also run from a ``git worktree`` of that revision, on the same interpreter and
packages, and each row shows the ratio of now to then. The commands: ``lint`` of the shipped
postings, ``--help``, ``lint --help``. The table goes into docs/benchmarks.md (``--no-write``: only
printed).
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

from bench.tables import recording

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "5ce8f44"  # the last revision whose CLI imported every command's modules at start
COMMANDS = {
    "syndicate lint postings (7 files)": ["-m", "syndicate", "lint", str(ROOT / "postings")],
    "syndicate --help": ["-m", "syndicate", "--help"],
    "syndicate lint --help": ["-m", "syndicate", "lint", "--help"],
}
FLOOR = "python -c pass"


def once(args: list[str], code: Path) -> float:
    """One run from ``code``'s folder: ``python -m`` puts it first on the path, ahead of the editable
    install, so that revision's package runs (on the same interpreter and packages)."""
    env = {**os.environ, "SYNDICATE_INSTANCE_DIR": tempfile.gettempdir()}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=code, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def measure(runs: int, before: Path | None) -> dict[tuple[str, str], float]:
    """The median seconds of each (command, revision), the runs interleaved."""
    timed: dict[tuple[str, str], list[float]] = {}
    plan = [(FLOOR, "now", ["-c", "pass"], ROOT)]
    for name, args in COMMANDS.items():
        plan.append((name, "now", args, ROOT))
        if before is not None:
            plan.append((name, "before", args, before))
    for _ in range(runs):
        for name, revision, args, code in plan:
            timed.setdefault((name, revision), []).append(once(args, code))
    return {key: statistics.median(values) for key, values in timed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", default=BEFORE, help="a revision to compare with ('' for none)")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = None
        if options.before:
            before = Path(tmp) / "before"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(before), options.before], cwd=ROOT, check=True
            )
        try:
            medians = measure(options.runs, before)
        finally:
            if before is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    floor = medians[(FLOOR, "now")]
    table = recording("cli-start")
    print(f"Median of {options.runs} runs each, interleaved; `{FLOOR}` took {floor * 1000:.0f} ms.\n")
    if before is not None:
        print(f"| command | now | x `{FLOOR}` | at {options.before} | now / then |")
        print("|---|---:|---:|---:|---:|")
    else:
        print(f"| command | now | x `{FLOOR}` |")
        print("|---|---:|---:|")
    for name in COMMANDS:
        now = medians[(name, "now")]
        row = f"| `{name}` | {now * 1000:.0f} ms | {now / floor:.1f} |"
        if before is not None:
            then = medians[(name, "before")]
            row += f" {then * 1000:.0f} ms | {now / then:.2f} |"
        print(row)
    table.write(keep=not options.no_write)


if __name__ == "__main__":
    main()
