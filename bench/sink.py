"""A webhook receiver that verifies every request with ``standardwebhooks`` and records the events.

    python -m bench.sink [--port 8901] [--secret whsec_...] [--delay-ms 0] [--quiet]

What a job board does, in ~60 lines: verify the signature over the exact bytes
(``Webhook(secret).verify``), answer 204, print one line per event. The test
suite and the benchmarks use ``Sink`` in-process; ``honcho start`` runs this
as the demo board of ``boards.toml``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

DEMO_SECRET = "whsec_c3luZGljYXRlLWRlbW8tc2luay1zZWNyZXQtMzJieXRlcyE="  # the demo board's, in boards.toml


class Sink(ThreadingHTTPServer):
    """A threaded HTTP server that keeps every verified event (and every rejected request)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, secret: str = DEMO_SECRET, delay_ms: float = 0, quiet: bool = True) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.webhook = Webhook(secret)
        self.delay = delay_ms / 1000
        self.quiet = quiet
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []  # {"id", "timestamp", "headers", "body", "payload", ...}
        self.rejected: list[str] = []
        self.answers: list[tuple[int, dict[str, str]]] = []  # scripted answers, used first-in first-out
        self.requests_seen = 0  # counted on arrival, before any delay

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/jobs"

    def start(self) -> Sink:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    server: Sink
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.requests_seen += 1
        if len(body) < length:  # the sender went away mid-body (a killed worker): nothing to verify or answer
            self.close_connection = True
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        try:
            payload = self.server.webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError as exc:
            with self.server.lock:
                self.server.rejected.append(str(exc))
            return self._answer(401, {})
        with self.server.lock:
            scripted = self.server.answers.pop(0) if self.server.answers else None
            self.server.events.append(
                {
                    "id": self.headers["webhook-id"],
                    "timestamp": self.headers["webhook-timestamp"],
                    "headers": dict(self.headers.items()),  # as received: names in the sender's spelling
                    "body": body,
                    "payload": payload,
                    "status": scripted[0] if scripted else 204,
                    "at": time.monotonic(),
                }
            )
        if not self.server.quiet:
            data = payload.get("data", {})
            line = f"{payload['type']} {data.get('id', '')} v{data.get('version', '')} {self.headers['webhook-id']}\n"
            with self.server.lock:  # one line per event, whole, whatever thread answers it
                sys.stdout.write(line)
                sys.stdout.flush()
        self._answer(*(scripted or (204, {})))

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:  # quiet: the events are the log
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--secret", default=DEMO_SECRET)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    sink = Sink(args.port, args.secret, args.delay_ms, quiet=args.quiet)
    print(f"sink listening on {sink.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sink.serve_forever()
    print(json.dumps({"events": len(sink.events), "rejected": len(sink.rejected)}))


if __name__ == "__main__":
    main()
