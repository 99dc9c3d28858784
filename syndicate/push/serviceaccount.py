"""A Google service account's key (the JSON file Google's console makes), read and checked without
printing it: what a google-indexing board authenticates with. Only the standard library at import
(``syndicate lint`` and the web read boards.toml too); the key's RSA check loads google-auth.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_REQUIRED = ("client_email", "private_key", "token_uri")
MAX_KEY_FILE = 64 * 1024  # bytes: a key file Google makes is about 2.3 KiB


def read_key_file(path: Path) -> tuple[str | None, str | None]:
    """A key file's text, or why it cannot be read: never blocking (a FIFO), never reading more than
    ``MAX_KEY_FILE`` (``/dev/zero``), only a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return None, f"cannot be read: {type(exc).__name__}: {exc.strerror or exc}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "cannot be read: not a regular file"
        if info.st_size > MAX_KEY_FILE:
            return None, f"cannot be read: {info.st_size} bytes, more than a key file's {MAX_KEY_FILE}"
        data = os.read(fd, MAX_KEY_FILE + 1)
    except OSError as exc:
        return None, f"cannot be read: {type(exc).__name__}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE:
        return None, f"cannot be read: more than a key file's {MAX_KEY_FILE} bytes"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"cannot be read: not UTF-8 (byte {exc.start})"


class ServiceAccount:
    """A service account's key (the JSON Google's console makes): never printed, compared by a digest."""

    __slots__ = ("_info", "digest", "email")

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info
        self.email = str(info["client_email"])  # not a credential: it is what Search Console is given
        canonical = json.dumps(info, sort_keys=True, separators=(",", ":")).encode()
        self.digest = hashlib.sha256(canonical).hexdigest()

    def reveal(self) -> dict[str, Any]:
        return dict(self._info)

    def __repr__(self) -> str:
        return f"ServiceAccount({self.email!r}, key=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServiceAccount) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def read_service_account(text: str) -> tuple[ServiceAccount | None, str | None]:
    """The service account of a key file's text, or why it is not one (never quoting the key)."""
    try:
        info = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return None, f"is not JSON{where}"
    if not isinstance(info, dict):
        return None, "is not a service-account key: not a JSON object"
    if info.get("type") != "service_account":
        return None, 'is not a service-account key: "type" is not "service_account"'
    missing = [name for name in _REQUIRED if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        return None, f"is not a service-account key: no {', '.join(missing)}"
    parts = urlsplit(info["token_uri"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "token_uri: must be an absolute http or https URL"
    from google.auth import crypt  # imported here: only a google-indexing board needs it

    try:
        crypt.RSASigner.from_service_account_info(info)
    except (ValueError, TypeError):
        return None, "private_key: not a PEM RSA private key"
    return ServiceAccount(info), None
