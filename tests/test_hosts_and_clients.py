"""Hostile hosts and slow clients: the render cache keeps the real site's answers, nobody starves the web."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import migrate, posting_text, write
from faults import slow_clients
from processes import Web, service_env


def test_made_up_hosts_never_push_the_real_sites_entries_out(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a"))
    app = make_app(postings_dir, render_cache_mb=1)
    client = app.test_client()
    cache = app.extensions["syndicate.web"].cache
    for _ in range(20):  # the site people use
        client.get("/feed.atom", headers={"Host": "jobs.example"})
    for n in range(5000):  # a client inventing hosts, each once
        answer = client.get("/feed.atom", headers={"Host": f"h{n}.attacker.example"})
        assert answer.status_code == 200 and f"h{n}.attacker.example".encode() in answer.data  # still answered
    assert len(cache) <= 4, "only the few hosts asked for most own cache entries"
    hits = cache.hits
    assert b"jobs.example" in client.get("/feed.atom", headers={"Host": "jobs.example"}).data
    assert cache.hits == hits + 1, "the real site's entry was never pushed out"


def test_with_a_base_url_the_host_plays_no_part(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a"))
    app = make_app(postings_dir, base_url="https://jobs.example")
    client = app.test_client()
    bodies = {client.get("/feed.atom", headers={"Host": f"h{n}.example"}).data for n in range(50)}
    assert len(bodies) == 1 and b"https://jobs.example/jobs/a" in bodies.pop()
    assert len(app.extensions["syndicate.web"].cache) == 1


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("jobs.example", 200),
        ("JOBS.example:8443", 200),
        ("eu.careers.example", 200),
        ("careers.example", 200),
        ("evil.example", 400),
        ("jobs.example.evil.example", 400),
        ("", 400),
    ],
)
def test_allowed_hosts_answer_others_400(
    make_app: Callable[..., Any], postings_dir: Path, host: str, status: int
) -> None:
    write(postings_dir, "a.md", posting_text("a"))
    client = make_app(postings_dir, allowed_hosts="jobs.example, .careers.example").test_client()
    assert client.get("/feed.atom", headers={"Host": host}).status_code == status
    assert client.get("/healthz", headers={"Host": host}).status_code == 200, "probes call by address"
    assert client.get("/readyz", headers={"Host": host}).status_code == 200


# --- real gunicorn --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_four_slow_clients_do_not_starve_the_web(tmp_path: Path, postings_dir: Path, database_url: str) -> None:
    """Two clients sending a byte a second stopped both sync workers; the shipped gunicorn.conf.py's
    threaded workers give each slow client a thread and answer everyone else."""
    write(postings_dir, "a.md", posting_text("a"))
    migrate(database_url)
    web = Web(service_env(tmp_path, postings_dir, database_url), tmp_path / "web.log")
    try:
        with slow_clients(web.port, 4):
            time.sleep(2)  # the slow clients have their connections, and send on
            for path in ("/healthz", "/feed.atom", "/", "/healthz", "/feed.atom", "/jobs/a"):
                started = time.monotonic()
                answer = requests.get(web.base + path, timeout=10)
                took = time.monotonic() - started
                assert answer.status_code == 200, path
                assert took < 2.0, f"{path} took {took:.2f} s with four slow clients connected"
    finally:
        web.stop()


@pytest.mark.slow
def test_forwarded_proto_is_believed_only_from_this_machine(
    tmp_path: Path, postings_dir: Path, database_url: str
) -> None:
    """gunicorn.conf.py trusts X-Forwarded-Proto from loopback, where the reverse proxy runs."""
    write(postings_dir, "a.md", posting_text("a"))
    migrate(database_url)
    env = service_env(tmp_path, postings_dir, database_url)
    web = Web({**env, "FORWARDED_ALLOW_IPS": "127.0.0.1"}, tmp_path / "web.log")
    try:
        proxied = requests.get(f"{web.base}/feed.atom", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        assert f"https://127.0.0.1:{web.port}/jobs/a" in proxied.text
    finally:
        web.stop()
    web = Web({**env, "FORWARDED_ALLOW_IPS": "192.0.2.1"}, tmp_path / "web2.log")  # the proxy is elsewhere
    try:
        direct = requests.get(f"{web.base}/feed.atom", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        assert f"http://127.0.0.1:{web.port}/jobs/a" in direct.text and "https://" not in direct.text.split("<entry")[0]
    finally:
        web.stop()
