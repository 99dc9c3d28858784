"""A stand-in for an IndexNow endpoint (api.indexnow.org, Bing, Yandex...) on a loopback port.

It checks each call's JSON and, as the real ones do before they accept a key, fetches ``keyLocation``
from the site (the running web process) to see the key; it answers ``status`` (202 by default) with
``text``, after ``delay`` seconds, or 403 when the key is not served.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


class IndexNowEndpoint(ThreadingHTTPServer):
    """An IndexNow endpoint on a loopback port: checks the body and fetches ``keyLocation``, as
    api.indexnow.org does before it accepts a key; answers ``status`` (202 by default) with ``text``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.status, self.text = 202, ""
        self.delay = 0.0  # seconds each call takes to answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/indexnow"

    def urls(self) -> list[list[str]]:
        with self.lock:
            return [c["body"]["urlList"] for c in self.calls]

    def start(self) -> IndexNowEndpoint:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    server: IndexNowEndpoint

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        fetched = requests.get(body["keyLocation"], timeout=5)  # the protocol's check of the key
        call = {
            "at": time.monotonic(),
            "path": self.path,
            "headers": dict(self.headers),
            "raw": raw,
            "body": body,
            "key_status": fetched.status_code,
            "key_type": fetched.headers.get("Content-Type"),
            "key_text": fetched.text,
        }
        with self.server.lock:
            self.server.calls.append(call)
            status, text = self.server.status, self.server.text
        time.sleep(self.server.delay)
        key_ok = fetched.status_code == 200 and fetched.text == body["key"]
        if not key_ok:
            status, text = 403, "The key is not valid: keyLocation does not serve it"
        answer = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass
