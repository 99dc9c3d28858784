"""``syndicate preview --serve``: one posting's page on 127.0.0.1, rendered again on every request so
that an author edits the file and reloads. The standard library's HTTP server is enough for one
person's browser; nothing is stored or cached.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

if TYPE_CHECKING:
    from syndicate.outputs.preview import Note
    from syndicate.outputs.rendered import Rendered

HOST = "127.0.0.1"  # never another interface: a draft is not for the network
Render = Callable[[str], tuple["Rendered | None", "list[Note]", "str | None"]]


def serve_preview(file: Path, port: int, render: Render) -> None:
    """Serve ``render(base)`` until interrupted; the notes are printed whenever they change."""
    from syndicate.outputs.pages import STATIC

    shown: list[list[str]] = [[]]

    def report(notes: list[Note]) -> None:
        lines = [str(n) for n in notes]
        if lines != shown[0]:
            shown[0] = lines
            for line in lines:
                click.echo(line, err=True)

    class Handler(BaseHTTPRequestHandler):
        server_version = "syndicate-preview"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
                return
            base = f"http://{HOST}:{self.server.server_address[1]}"
            rendered, notes, posting_id = render(base)
            report(notes)
            if rendered is None:
                self._send(500, "text/plain; charset=utf-8", "".join(f"{n}\n" for n in notes).encode())
            elif path in ("/", f"/jobs/{posting_id}"):
                self._send(rendered.status, rendered.content_type, rendered.body)
            else:
                self._send(404, "text/plain; charset=utf-8", f"this preview serves /jobs/{posting_id}\n".encode())

        def _static(self, name: str) -> None:
            root = STATIC.resolve()
            target = (root / name).resolve()  # the shipped logos are in a folder below: no way out of it
            hidden = any(part.startswith(".") for part in name.split("/"))
            if hidden or not target.is_relative_to(root) or not target.is_file():
                self._send(404, "text/plain; charset=utf-8", b"not found\n")
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, kind, target.read_bytes())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")  # every reload shows the file as it is now
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the notes are the output that matters; a line per request would bury them

    try:
        server = ThreadingHTTPServer((HOST, port), Handler)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    with server:
        base = f"http://{HOST}:{server.server_address[1]}"
        _rendered, notes, posting_id = render(base)
        click.echo(f"previewing {file} at {base}/jobs/{posting_id or ''} (read again on every request)", err=True)
        report(notes)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the preview
            server.serve_forever()
