"""The service's processes as the Procfile starts them, for the tests that need a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_HEADER = "X-Test-Worker"  # the pid of the worker that answered: the test config adds it, never the app

# gunicorn.conf.py as shipped, plus one hook: each worker wraps the app it loaded so that every answer
# names the worker that gave it (a response header, so a test needs no second request to find out).
_TEST_CONFIG = """\
import os
import runpy

globals().update({{k: v for k, v in runpy.run_path({shipped!r}).items() if not k.startswith("__")}})
_shipped_hook = globals().get("post_worker_init")


def post_worker_init(worker):
    if _shipped_hook is not None:
        _shipped_hook(worker)
    app, pid = worker.wsgi, str(os.getpid())

    def naming_the_worker(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ({header!r}, pid)], exc_info)

        return app(environ, start)

    worker.wsgi = naming_the_worker
"""


def gunicorn_config(folder: Path) -> Path:
    """A gunicorn config for tests: the shipped settings, and every answer says which worker gave it
    (``WORKER_HEADER``). Pass it with ``-c``; gunicorn then reads no other config file."""
    path = folder / "gunicorn.test.conf.py"
    path.write_text(_TEST_CONFIG.format(shipped=str(REPO_ROOT / "gunicorn.conf.py"), header=WORKER_HEADER))
    return path


def worker_of(response: requests.Response) -> int:
    """The pid of the gunicorn worker that gave ``response`` (started with ``gunicorn_config``)."""
    return int(response.headers[WORKER_HEADER])


def from_each_worker(
    workers: set[int], ask: Callable[[], T], worker: Callable[[T], int] = worker_of, rounds: int = 50
) -> dict[int, T]:
    """One answer of each of ``workers``, asking until each has answered (fewer if some never do).
    ``ask`` opens a new connection each time: whichever worker accepts it answers; ``worker`` reads
    which one did from the answer. Asked one at a time, the worker that just answered is often the one
    back at ``accept`` first, again and again; so each round asks eight at once, which keeps one
    worker busy while another accepts."""
    answers: dict[int, T] = {}
    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            for answer in pool.map(lambda _n: ask(), range(8)):
                answers.setdefault(worker(answer), answer)
            if set(answers) >= workers:
                break
    return answers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers under its master)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def service_env(tmp_path: Path, postings: Path, database_url: str, **more: str) -> dict[str, str]:
    """The environment of a service process over ``postings`` and ``database_url`` (state in ``tmp_path``)."""
    return {
        "SYNDICATE_POSTINGS_DIR": str(postings),
        "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        **more,
    }


def run_cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``flask --app app syndicate ARGS`` to the end, with ``env`` (over this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "syndicate", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def get(url: str, timeout: float = 5, **kwargs: object) -> requests.Response | None:
    """The answer, or None when there is none within ``timeout``."""
    try:
        return requests.get(url, timeout=timeout, **kwargs)  # type: ignore[arg-type]
    except requests.RequestException:
        return None


class Web:
    """``gunicorn -c gunicorn.conf.py app:app`` (the Procfile's web line) on a free loopback port; the
    config is ``gunicorn_config``'s (the shipped one, and each answer names its worker)."""

    def __init__(self, env: Mapping[str, str], log: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        config = gunicorn_config(log.parent)
        command = [sys.executable, "-m", "gunicorn", "-c", str(config), "--workers", str(workers)]
        self.process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{self.port}", "app:app"],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        if not wait_for(lambda: self.process.poll() is not None or get(f"{self.base}/readyz") is not None, 60):
            self.stop()
            raise AssertionError(f"gunicorn did not answer within 60 s:\n{self.output()}")
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")

    def health(self) -> dict | None:
        answer = get(f"{self.base}/healthz", timeout=2)
        return answer.json() if answer is not None and answer.status_code == 200 else None

    def all_healthy(self, check: Callable[[dict], bool] | None = None, **expected: object) -> bool:
        """Every worker's /healthz has every ``expected`` value and passes ``check`` (asked until each
        worker has answered)."""
        workers = self.workers()
        answered: set[int] = set()
        for _ in range(200):
            body = self.health()
            if body is None or any(body.get(k) != v for k, v in expected.items()) or (check and not check(body)):
                return False
            answered.add(body["process"])
            if answered >= workers:
                return True
        return False

    def each_worker(self, path: str) -> list[requests.Response]:
        """One answer to ``path`` from each worker (each answer names the worker that gave it)."""
        return list(from_each_worker(self.workers(), lambda: requests.get(self.base + path, timeout=5)).values())

    def workers(self) -> set[int]:
        return children(self.process.pid)

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


class WorkerProcess:
    """``syndicate worker`` (the Procfile's worker line), as ``python -m syndicate worker``."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "worker"],
            cwd=REPO_ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        """(exit code, seconds from the signal to the exit)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log_file.close()
        return code, time.monotonic() - started
