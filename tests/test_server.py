"""The service as users run it: gunicorn with two workers on a loopback port, postings edited live."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import REPO_ROOT, migrate, posting_text, write
from processes import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: str, postings: Path) -> None:
        self.base = base
        self.postings = postings

    def health(self) -> dict:
        response = requests.get(f"{self.base}/healthz", timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def settle(self, loaded: int, seconds: float = 10) -> None:
        """Until every worker has reloaded to ``loaded`` postings (each reloads in its own thread)."""
        assert wait_for(lambda: all(self.health()["postings"]["loaded"] == loaded for _ in range(8)), seconds)


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
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "app:app"],
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
    yield Server(base, postings_dir)
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
        bodies = [server.health()["postings"] for _ in range(8)]
        return all(b["loaded"] == 2 and b["rejected_files"] == 1 and b["version"] != before for b in bodies)

    assert wait_for(settled, 10)
    versions = {server.health()["postings"]["version"] for _ in range(6)}
    assert len(versions) == 1, "both workers compute the same version for the same postings"


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
    # both gunicorn workers answer 304 to the validator either of them gave
    for _ in range(6):
        status, again, body = raw_get(server.base, "/feed.atom", {"If-None-Match": headers["etag"]})
        assert (status, body) == (304, b"")
        assert again["etag"] == headers["etag"]
        status, _, body = raw_get(server.base, "/feed.atom", {"If-Modified-Since": headers["last-modified"]})
        assert (status, body) == (304, b"")
    status, zipped_headers, zipped = raw_get(server.base, "/feed.atom", {"Accept-Encoding": "gzip"})
    assert zipped_headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped) == plain
    assert int(zipped_headers["content-length"]) == len(zipped) < len(plain)
    # an edit changes the answer for a client holding the old copy
    write(server.postings, "c.md", posting_text("c", title="Brand New Role"))
    server.settle(loaded=3)
    status, _, body = raw_get(server.base, "/feed.atom", {"If-None-Match": headers["etag"]})
    assert status == 200 and b"Brand New Role" in body
