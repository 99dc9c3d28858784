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

        head = False  # a HEAD request: the GET answer's status and headers, no body

        def do_GET(self) -> None:
            self.head = False
            self._answer()

        def do_HEAD(self) -> None:
            self.head = True
            self._answer()

        def _answer(self) -> None:
            port = self.server.server_address[1]
            host = (self.headers.get("Host") or "").lower()
            if host not in (f"{HOST}:{port}", f"localhost:{port}"):
                # DNS rebinding: a page of another site whose name now points at 127.0.0.1 must not read drafts
                self._send(421, "text/plain; charset=utf-8", f"this preview answers only {HOST}:{port}\n".encode())
                return
            path = urlsplit(self.path).path
            if path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
                return
            base = f"http://{HOST}:{port}"
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
            hidden = any(part.startswith(".") for part in name.split("/"))
            try:
                target = (root / name).resolve()  # the shipped logos are in a folder below: no way out of it
                inside = not hidden and target.is_relative_to(root) and target.is_file()
                body = target.read_bytes() if inside else None
            except (OSError, ValueError):  # a name too long for the system, a NUL: nothing served by that name
                body = None
            if body is None:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._send(200, kind, body)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")  # every reload shows the file as it is now
            self.end_headers()
            if not self.head:
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
