"""Real faulty peers for the fault tests: a TCP proxy that can be cut, boards that hang or drip.

Each is a real socket server on a loopback port, driven from its own threads.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator


def _listen(port: int = 0) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    return server


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards a loopback port to ``target``. ``cut()`` drops every connection and refuses new ones
    (the database is away); ``restore()`` listens again on the same port. ``hold()`` keeps every
    connection open and accepts new ones but forwards nothing (a server that hangs), until ``release()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self._server = _listen()
        self.port = self._server.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serve(self._server)

    def _serve(self, server: socket.socket) -> None:
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut: the listener is closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self._flowing.wait() and (data := source.recv(65536)):
                self._flowing.wait()  # held: what was read waits here, and flows on release
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)

    def cut(self) -> None:
        _close(self._server)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self._server = _listen(self.port)
        self._serve(self._server)

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._flowing.set()
        self.cut()


class _Board:
    """A board on a loopback port that hands each connection to ``_serve`` in a thread of its own."""

    def __init__(self) -> None:
        self._server = _listen()
        self.port = self._server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/jobs"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        _close(self._server)


class HangingBoard(_Board):
    """Accepts connections and never answers (reads the request, then holds the socket)."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []
        super().__init__()

    def _serve(self, client: socket.socket) -> None:
        self._held.append(client)
        with contextlib.suppress(OSError):
            while client.recv(65536):
                pass

    def close(self) -> None:
        super().close()
        for sock in self._held:
            _close(sock)


class DrippingBoard(_Board):
    """Reads a request, then answers ``200 OK`` one byte per ``interval`` seconds. Records, per
    connection, the webhook id it carried and when it was open."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.sends: list[tuple[str, float, float]] = []  # (webhook id, opened, closed), monotonic
        self._lock = threading.Lock()
        super().__init__()

    def _serve(self, client: socket.socket) -> None:
        opened = time.monotonic()
        webhook_id = ""
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "webhook-id":
                    webhook_id = value.strip()
                elif name.lower() == "content-length":
                    length = int(value)
            while len(body) < length:  # the whole request first: then any readable byte means EOF
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                client.sendall(bytes([byte]))
                readable, _, _ = select.select([client], [], [], self.interval)
                if readable and not client.recv(1):
                    return  # the client gave up: noted at once, not at the next byte
        except OSError:
            pass
        finally:
            _close(client)
            with self._lock:
                self.sends.append((webhook_id, opened, time.monotonic()))


@contextlib.contextmanager
def slow_clients(port: int, count: int, interval: float = 1.0) -> Iterator[list[socket.socket]]:
    """``count`` clients that send a request's headers one byte every ``interval`` seconds, held open."""
    stop = threading.Event()
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n"

    def drip(sock: socket.socket) -> None:
        for byte in request:
            if stop.wait(interval):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    for sock in clients:
        threading.Thread(target=drip, args=(sock,), daemon=True).start()
    try:
        yield clients
    finally:
        stop.set()
        for sock in clients:
            _close(sock)
