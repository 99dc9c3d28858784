"""The service as users run it: gunicorn with two workers on a loopback port, postings edited live."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import REPO_ROOT, migrate, posting_text, write
from processes import WORKER_HEADER, children, from_each_worker, gunicorn_config, wait_for

WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: str, postings: Path, process: subprocess.Popen) -> None:
        self.base = base
        self.postings = postings
        self.process = process

    def health(self) -> dict:
        response = requests.get(f"{self.base}/healthz", timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def workers(self) -> set[int]:
        workers = children(self.process.pid)
        assert len(workers) == WORKERS, workers
        return workers

    def each_health(self) -> dict[int, dict]:
        """Every worker's /healthz body, by worker pid (each answer names its worker)."""
        answers = from_each_worker(self.workers(), lambda: requests.get(f"{self.base}/healthz", timeout=5))
        assert set(answers) == self.workers(), "every worker answered"
        for pid, response in answers.items():
            assert response.status_code == 200, response.text
            assert response.json()["process"] == pid, "the header names the worker that answered"
        return {pid: response.json() for pid, response in answers.items()}

    def each_raw_get(self, path: str, headers: dict[str, str]) -> dict[int, tuple[int, dict[str, str], bytes]]:
        """``raw_get`` until every worker has answered: each one's answer, by worker pid."""
        answers = from_each_worker(
            self.workers(), lambda: raw_get(self.base, path, headers), worker=lambda a: int(a[1][WORKER_HEADER.lower()])
        )
        assert set(answers) == self.workers(), "every worker answered"
        return answers

    def settle(self, loaded: int, seconds: float = 10) -> None:
        """Until every worker has reloaded to ``loaded`` postings (each reloads in its own thread)."""
        assert wait_for(lambda: all(b["postings"]["loaded"] == loaded for b in self.each_health().values()), seconds)


def start(tmp_path: Path, postings: Path, database_url: str) -> tuple[subprocess.Popen, str]:
    migrate(database_url)  # the release step of the run command
    port = free_port()
    env = {
        **os.environ,
        "SYNDICATE_POSTINGS_DIR": str(postings),
        "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "SYNDICATE_RELOAD_INTERVAL": "0",
        "DATABASE_URL": database_url,
    }
    config = gunicorn_config(tmp_path)  # the shipped gunicorn.conf.py; each answer names its worker
    command = [sys.executable, "-m", "gunicorn", "-c", str(config), "--workers", str(WORKERS)]
    process = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}", "app:app"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {process.stderr.read()}")
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return process, base
        except (requests.ConnectionError, requests.Timeout):  # bound, but the workers are still loading
            time.sleep(0.1)
    process.kill()
    raise AssertionError("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


@pytest.fixture
def server(tmp_path: Path, postings_dir: Path, database_url: str) -> Iterator[Server]:
    write(postings_dir, "a.md", posting_text())
    write(postings_dir, "b.md", posting_text())
    process, base = start(tmp_path, postings_dir, database_url)
    yield Server(base, postings_dir, process)
    stop(process)


def test_healthz_reports_the_loaded_postings(server: Server) -> None:
    body = server.health()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["postings"]["loaded"] == 2
    assert body["postings"]["open"] == 2
    assert body["postings"]["rejected_files"] == 0


def test_edits_while_serving_reach_every_worker(server: Server) -> None:
    before = server.health()["postings"]["version"]
    write(server.postings, "c.md", posting_text())
    (server.postings / "b.md").unlink()
    write(server.postings, "broken.md", "---\ntitle: [\n---\n")

    # two workers, each reloading in its own thread: within a few reload rounds both show the new state
    def settled() -> bool:
        bodies = [body["postings"] for body in server.each_health().values()]
        return all(b["loaded"] == 2 and b["rejected_files"] == 1 and b["version"] != before for b in bodies)

    assert wait_for(settled, 10)
    versions = {pid: body["postings"]["version"] for pid, body in server.each_health().items()}
    assert len(versions) == WORKERS and len(set(versions.values())) == 1, (
        f"both workers compute the same version for the same postings: {versions}"
    )


def test_first_seen_survives_a_server_restart(tmp_path: Path, postings_dir: Path, database_url: str) -> None:
    write(postings_dir, "a.md", posting_text())
    process, base = start(tmp_path, postings_dir, database_url)
    first = requests.get(f"{base}/healthz", timeout=5).json()["postings"]["version"]
    stop(process)
    time.sleep(1.1)  # a restart a second later: a date taken from "now" would change the version
    process, base = start(tmp_path, postings_dir, database_url)
    again = requests.get(f"{base}/healthz", timeout=5).json()["postings"]["version"]
    stop(process)
    assert again == first


def test_a_thousand_generated_postings_load_in_the_server(tmp_path: Path, database_url: str) -> None:
    from bench.generate import generate

    folder = tmp_path / "many"
    generate(folder, 1000)
    process, base = start(tmp_path, folder, database_url)
    try:
        body = requests.get(f"{base}/healthz", timeout=5).json()["postings"]
    finally:
        stop(process)
    assert body["loaded"] == 1000
    assert body["rejected_files"] == 0


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = requests.get(f"{base}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_postings_by_state_and_rejected_files(server: Server) -> None:
    write(server.postings, "closed.md", posting_text(status="closed"))
    write(server.postings, "expired.md", posting_text(valid_through="2020-01-01", date_posted="2019-12-01"))
    write(server.postings, "broken.md", "---\ntitle: [\n---\n")
    server.settle(loaded=4)
    metrics = scrape(server.base)
    assert metrics[("syndicate_postings", (("state", "open"),))] == 2
    assert metrics[("syndicate_postings", (("state", "closed"),))] == 1
    assert metrics[("syndicate_postings", (("state", "expired"),))] == 1
    assert metrics[("syndicate_posting_files_rejected", ())] == 1
    assert metrics[("syndicate_posting_problems", (("level", "error"),))] == 1


def test_metrics_count_the_problems_lint_reports(server: Server) -> None:
    """The same definition in both: each file's own problems, and the advice on what it serves."""
    from syndicate.postings.files import read_folder
    from syndicate.postings.lint import lint

    write(server.postings, "expired.md", posting_text(valid_through="2020-01-01", date_posted="2019-12-01"))
    write(server.postings, "broken.md", "---\ntitle: [\n---\n")
    write(server.postings, "odd.md", posting_text(colour="teal"))  # an unknown key: the file's own warning
    server.settle(loaded=4)
    metrics = scrape(server.base)
    # the server judges expiry by the real clock, so lint here does too (no date is near it)
    found = lint(read_folder(server.postings, UTC, 1024 * 1024), datetime.now(UTC))  # wall-clock: the server's
    errors = sum(p.level == "error" for p in found)
    warnings = len(found) - errors
    assert (errors, warnings > 4) == (1, True)  # advice on each served posting counted, not only odd.md's key
    assert metrics[("syndicate_posting_problems", (("level", "error"),))] == errors
    assert metrics[("syndicate_posting_problems", (("level", "warning"),))] == warnings


def raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One GET over a plain socket-level client that neither decompresses nor caches (urllib3)."""
    import urllib3

    with urllib3.PoolManager() as http:
        response = http.request("GET", base + path, headers=headers, decode_content=False, preload_content=True)
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data


def test_conditional_get_and_gzip_over_a_real_socket(server: Server) -> None:
    import gzip

    import feedparser

    status, headers, plain = raw_get(server.base, "/feed.atom", {"Accept-Encoding": "identity"})
    assert status == 200 and "content-encoding" not in headers
    assert int(headers["content-length"]) == len(plain)
    assert feedparser.parse(plain).bozo == 0
    # both gunicorn workers give the same validators, and each answers 304 to them (so to either's)
    firsts = server.each_raw_get("/feed.atom", {"Accept-Encoding": "identity"})
    for pid, (status, first, body) in firsts.items():
        assert (status, body) == (200, plain), pid
        assert (first["etag"], first["last-modified"]) == (headers["etag"], headers["last-modified"]), pid
    for pid, (status, again, body) in server.each_raw_get("/feed.atom", {"If-None-Match": headers["etag"]}).items():
        assert (status, body) == (304, b""), pid
        assert again["etag"] == headers["etag"], pid
    validator = {"If-Modified-Since": headers["last-modified"]}
    for pid, (status, _, body) in server.each_raw_get("/feed.atom", validator).items():
        assert (status, body) == (304, b""), pid
    for pid, (_, zipped_headers, zipped) in server.each_raw_get("/feed.atom", {"Accept-Encoding": "gzip"}).items():
        assert zipped_headers["content-encoding"] == "gzip", pid
        assert gzip.decompress(zipped) == plain, pid
        assert int(zipped_headers["content-length"]) == len(zipped) < len(plain), pid
    # an edit changes the answer for a client holding the old copy, whichever worker it reaches
    write(server.postings, "c.md", posting_text("c", title="Brand New Role"))
    server.settle(loaded=3)
    for pid, (status, _, body) in server.each_raw_get("/feed.atom", {"If-None-Match": headers["etag"]}).items():
        assert status == 200 and b"Brand New Role" in body, pid
