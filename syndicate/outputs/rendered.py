"""A rendered output: its bytes with the validators and the gzip variant computed with it.

A ``Rendered`` is built once per (output, canonical filter, snapshot version, expiry boundary) and
then answers every request for it: the strong ETag, the gzip variant and Last-Modified are computed
with it, so a repeated request and a 304 render nothing. Pure data: the web layer does the I/O.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

GZIP_FROM_BYTES = 1024  # smaller bodies gain nothing from compression
GZIP_LEVEL = 6


@dataclass(slots=True)
class Rendered:
    """One output's bytes with everything a conditional or compressed answer needs."""

    body: bytes
    content_type: str
    last_modified: datetime
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    etag: str = field(init=False)
    gzip_etag: str = field(init=False)  # a strong validator differs per content coding (RFC 9110, 8.8.3)
    http_last_modified: str = field(init=False)
    _gzipped: bytes | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(self.body, digest_size=16).hexdigest()
        self.etag = f'"{digest}"'
        self.gzip_etag = f'"{digest}-gz"'
        self.http_last_modified = format_datetime(self.last_modified, usegmt=True)

    @property
    def compressible(self) -> bool:
        return len(self.body) >= GZIP_FROM_BYTES

    def gzipped(self) -> bytes:
        """Compressed on first use: a client that never asks for gzip never pays for it."""
        if self._gzipped is None:  # a race here only compresses twice: both results are equal
            self._gzipped = gzip.compress(self.body, GZIP_LEVEL, mtime=0)
        return self._gzipped

    @property
    def size(self) -> int:
        """Counted with room for its gzip variant, which is made on first use (about a fifth)."""
        return len(self.body) + len(self.body) // 5 + 200
