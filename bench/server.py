"""Helpers the server benchmarks share: gunicorn started as the Procfile does, and torn down."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(
    app: str,
    postings: Path,
    instance: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    workers: int = 2,
) -> Iterator[str]:
    """``gunicorn --workers 2 --bind 127.0.0.1:PORT APP`` from the repository root, so with the settings of
    ``gunicorn.conf.py`` (threaded workers) as the Procfile's web line, without the
    access log); yields the base URL once every worker answers. Its output goes to ``log``.
    ``APP`` must have the route ``/_bench/pid`` (``bench.serve_app:app`` has)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "SYNDICATE_POSTINGS_DIR": str(postings),
        "SYNDICATE_INSTANCE_DIR": str(instance),
        "SYNDICATE_BASE_URL": base,
        **(env or {}),
    }
    full_env.pop("DATABASE_URL", None)  # the default: SQLite in the instance folder
    from syndicate.store.engine import Store

    store = Store(f"sqlite:///{instance / 'syndicate.db'}")  # the release step, as the run command does
    store.migrate()
    store.close()
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}", app]
    with open(log, "w", encoding="utf-8") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=err, stderr=subprocess.STDOUT)
        try:
            _wait_ready(process, base, log, workers)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _wait_ready(process: subprocess.Popen, base: str, log: Path, workers: int) -> None:
    """Until every worker has loaded the app and answers (``/_bench/pid`` names the one that did)."""
    deadline = time.monotonic() + 180
    pids: set[bytes] = set()
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text(encoding='utf-8')}")
            answers = list(pool.map(_get, [base + "/_bench/pid"] * 8))
            pids.update(a for a in answers if a is not None)
            if len(pids) >= workers:
                return
            if None in answers:
                time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn workers did not all answer within 180 s:\n{log.read_text(encoding='utf-8')}")


def problems_in_log(log: Path) -> list[str]:
    """Lines of the server's log that report an error or a traceback."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in lines if " ERROR " in line or "Traceback" in line or "[CRITICAL]" in line]


# --- how much of the machine something else used during a measurement -------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """Ticks every core spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return sum(values) - values[3] - values[4]


def _process_ticks() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, user + system ticks) of every process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def _tree_ticks(roots: set[int]) -> int:
    processes = _process_ticks()
    total, seen, todo = 0, set(), list(roots)
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in processes:
            continue
        seen.add(pid)
        total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total


class ForeignLoad:
    """The share of the machine's cores that processes outside this one's tree (this process, its
    children such as wrk and gunicorn) kept busy between ``start()`` and ``stop()``: other jobs that
    would skew a measurement. Children that exit in between count through ``RUSAGE_CHILDREN``."""

    def start(self) -> None:
        self._wall = time.monotonic()
        self._busy = _busy_ticks()
        self._own = self._own_ticks()

    def stop(self) -> float:
        wall = time.monotonic() - self._wall
        foreign = (_busy_ticks() - self._busy) - (self._own_ticks() - self._own)
        return max(0.0, foreign / CLOCK_TICKS / (wall * (os.cpu_count() or 1)))

    @staticmethod
    def _own_ticks() -> int:
        import resource

        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _tree_ticks({os.getpid()}) + round((waited.ru_utime + waited.ru_stime) * CLOCK_TICKS)


def wait_for_quiet(limit: float = 0.05, seconds: float = 2.0, patience: float = 300.0) -> float:
    """Wait (up to ``patience`` seconds) until others use at most ``limit`` of the machine over ``seconds``;
    returns the last share seen."""
    deadline = time.monotonic() + patience
    meter = ForeignLoad()
    while True:
        meter.start()
        time.sleep(seconds)
        share = meter.stop()
        if share <= limit or time.monotonic() > deadline:
            return share
