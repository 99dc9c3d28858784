"""A stand-in for a WebSub hub (pubsubhubbub.appspot.com and the like) on a loopback port.

A publish call must be form-encoded with ``hub.mode=publish`` and one or more distinct ``hub.url``;
a good one is answered ``status`` (204), after the hub fetched every topic from the site as real hubs
do, checking that it answers 200, names the hub and itself in its Link header, and changed since the
hub's last fetch of it (``problems`` lists what a real hub would have complained about).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import requests


@dataclass
class Fetch:
    url: str
    status: int
    link: str
    changed: bool


@dataclass
class Call:
    at: float  # time.monotonic() when it arrived
    content_type: str
    form: list[tuple[str, str]]
    status: int  # what the hub answered
    fetches: list[Fetch]
    raw: bytes = b""
    headers: dict[str, str] | None = None

    @property
    def topics(self) -> list[str]:
        return [v for k, v in self.form if k == "hub.url"]


class Hub(ThreadingHTTPServer):
    """A WebSub hub on a loopback port. A publish call must be form-encoded with ``hub.mode=publish``
    and at least one ``hub.url``; a good one is answered ``status`` (204), after fetching each topic.
    ``problems`` lists whatever a real hub would have complained about (the fixture fails on any)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.problems: list[str] = []
        self.bodies: dict[str, bytes] = {}  # the last bytes fetched of each topic
        self.status, self.text = 204, ""
        self.hang = threading.Event()  # set: calls wait for ``release`` before answering
        self.release = threading.Event()
        self.hanging = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hub"

    def topics(self) -> list[list[str]]:
        with self.lock:
            return [c.topics for c in self.calls]

    def start(self) -> Hub:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def publishes(self) -> int:
        with self.lock:
            return len(self.calls)

    def fetched_without(self, topic: str, text: str) -> bool:
        """Whether the hub's last fetch of ``topic`` (an absolute URL) no longer holds ``text``."""
        with self.lock:
            body = self.bodies.get(topic)
        return body is not None and text.encode() not in body


class _HubHandler(BaseHTTPRequestHandler):
    server: Hub

    def do_POST(self) -> None:
        hub = self.server
        arrived = time.monotonic()
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        content_type = self.headers.get("Content-Type", "")
        form = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        urls = [v for k, v in form if k == "hub.url"]
        wrong = []
        if content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            wrong.append(f"Content-Type {content_type!r}")
        if [v for k, v in form if k == "hub.mode"] != ["publish"]:
            wrong.append(f"hub.mode in {form!r}")
        if not urls or len(set(urls)) != len(urls):
            wrong.append(f"hub.url values {urls!r}")
        if {k for k, _ in form} - {"hub.mode", "hub.url"}:
            wrong.append(f"other keys in {form!r}")
        if hub.hang.is_set():
            with hub.lock:
                hub.hanging += 1
            hub.release.wait(30)
            with hub.lock:  # the publisher gave up long ago: nothing to answer, nothing to fetch
                hub.calls.append(Call(arrived, content_type, form, 0, []))
            return
        with hub.lock:
            status, text = (400, "bad publish request") if wrong else (hub.status, hub.text)
        fetches = [self._fetch(url) for url in urls] if 200 <= status < 300 else []
        with hub.lock:
            hub.problems += wrong
            hub.calls.append(Call(arrived, content_type, form, status, fetches, raw, dict(self.headers)))
        answer = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _fetch(self, url: str) -> Fetch:
        """What a hub does with a topic it is told of: fetch it, and compare with what it had."""
        hub = self.server
        answer = requests.get(url, timeout=5)
        link = answer.headers.get("Link", "")
        with hub.lock:
            changed = hub.bodies.get(url) != answer.content
            hub.bodies[url] = answer.content
            if answer.status_code != 200:
                hub.problems.append(f"{url}: {answer.status_code}")
            if not changed:
                hub.problems.append(f"{url}: published in call {len(hub.calls) + 1}, but its bytes did not change")
            if f'<{hub.url}>; rel="hub"' not in link or f'<{url}>; rel="self"' not in link:
                hub.problems.append(f"{url}: Link {link!r} does not name the hub and the topic itself")
        return Fetch(url, answer.status_code, link, changed)

    def log_message(self, *args: object) -> None:
        pass
