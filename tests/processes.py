"""The service's processes as the Procfile starts them, for the tests that need a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    """``gunicorn -c gunicorn.conf.py app:app`` (the Procfile's web line) on a free loopback port."""

    def __init__(self, env: Mapping[str, str], log: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", str(workers)]
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
        """One answer to ``path`` from each worker (told apart by the /healthz on the same connection)."""
        answers: dict[int, requests.Response] = {}
        workers = self.workers()
        for _ in range(200):
            with requests.Session() as session:  # one connection: both requests reach the same worker
                health = session.get(f"{self.base}/healthz", timeout=5)
                answer = session.get(self.base + path, timeout=5)
            answers.setdefault(health.json()["process"], answer)
            if set(answers) >= workers:
                break
        return list(answers.values())

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
    """``flask --app app syndicate worker`` (the Procfile's worker line)."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "syndicate", "worker"],
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
