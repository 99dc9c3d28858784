"""The job boards that subscribed: ``boards.toml``, validated, and re-read when it changes.

Every mistake is reported with the board and the key (``board 'acme': url: must
be http or https``), all at once. A secret never appears in a message, a log
line or a repr: ``Secret`` hides it, and only the signer asks for its value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syndicate.outputs.filters import fold
from syndicate.redact import redact_url

log = logging.getLogger(__name__)

EVENTS = ("posting.created", "posting.updated", "posting.closed")
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the Standard Webhooks spec's range
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
_KEYS = {"name", "url", "secret", "secret_env", "events", "tags"}


class BoardsError(ValueError):
    """``boards.toml`` cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class Secret:
    """A signing secret that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('whsec_***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Board:
    name: str
    url: str
    secret: Secret = field(repr=False)
    events: frozenset[str] = frozenset(EVENTS)
    tags: frozenset[str] = frozenset()  # empty: every posting

    def __repr__(self) -> str:  # a URL may carry credentials: never shown whole
        shown = f"name={self.name!r}, url={redact_url(self.url)!r}"
        return f"Board({shown}, events={sorted(self.events)}, tags={sorted(self.tags)})"

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def matches(self, tags: tuple[str, ...]) -> bool:
        """Tags compare as the feed filter compares them (``fold``: 'Straße' ~ 'strasse')."""
        return not self.tags or any(fold(t) in self.tags for t in tags)


def check_secret(value: str) -> str | None:
    """Why ``value`` is not a Standard Webhooks secret, or None when it is one."""
    if not value.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX!r}"
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "must be base64 after 'whsec_'"
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        return f"must decode to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, got {len(raw)}"
    return None


def _board(entry: Any, index: int, environ: Mapping[str, str], problems: list[str]) -> Board | None:
    if not isinstance(entry, dict):
        problems.append(f"boards[{index}]: must be a table")
        return None
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"boards[{index}]: name: must be 1-100 letters, digits, '.', '_' or '-', got {name!r}")
        return None
    where = f"board {name!r}"
    before = len(problems)
    for key in sorted(set(entry) - _KEYS):
        problems.append(f"{where}: {key}: unknown key (known: {', '.join(sorted(_KEYS))})")
    url = entry.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact_url(url) if isinstance(url, str) else url
        problems.append(f"{where}: url: must be an absolute http or https URL, got {shown!r}")
    secret = None
    if "secret" in entry and "secret_env" in entry:
        problems.append(f"{where}: secret: give secret or secret_env, not both")
    elif "secret_env" in entry:
        variable = entry["secret_env"]
        if not isinstance(variable, str) or not variable:
            problems.append(f"{where}: secret_env: must name an environment variable")
        elif variable not in environ:
            problems.append(f"{where}: secret_env: the variable {variable} is not set")
        else:
            secret = environ[variable].strip()
            reason = check_secret(secret)
            if reason:
                problems.append(f"{where}: secret_env: the value of {variable} {reason}")
    elif "secret" in entry:
        secret = entry["secret"]
        reason = check_secret(secret) if isinstance(secret, str) else "must be a string"
        if reason:
            problems.append(f"{where}: secret: {reason}")  # the value itself is never repeated
    else:
        problems.append(f"{where}: secret: missing (give secret or secret_env)")
    events = entry.get("events", list(EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        problems.append(f"{where}: events: must be a non-empty list of event names")
        events = []
    for event in events:
        if event not in EVENTS:
            problems.append(f"{where}: events: unknown event {event!r} (known: {', '.join(EVENTS)})")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append(f"{where}: tags: must be a list of tag names")
        tags = []
    if len(problems) > before:
        return None
    return Board(
        name,
        url,
        Secret(secret),
        frozenset(events),
        frozenset(fold(t) for t in tags),
    )


def parse_boards(text: str, path: Path, environ: Mapping[str, str] | None = None) -> tuple[Board, ...]:
    """The boards of one ``boards.toml`` text; ``BoardsError`` lists every problem."""
    environ = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardsError(path, [f"not valid TOML: {exc}"]) from None
    problems: list[str] = [f"{key}: unknown top-level key (expected [[boards]])" for key in data if key != "boards"]
    entries = data.get("boards", [])
    if not isinstance(entries, list):
        raise BoardsError(path, ["boards: must be an array of tables ([[boards]])"])
    boards: list[Board] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        board = _board(entry, index, environ, problems)
        if board is None:
            continue
        if board.name in seen:
            problems.append(f"board {board.name!r}: name: duplicate (names must be unique)")
            continue
        seen.add(board.name)
        boards.append(board)
    if problems:
        raise BoardsError(path, problems)
    return tuple(boards)


def load_boards(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Board, ...]:
    """The boards of the file at ``path``; no file means no boards."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardsError(path, [f"cannot be read: {exc}"]) from None
    return parse_boards(text, path, environ)


class BoardsFile:
    """The current boards of one file, re-read when its stamp changes (no restart needed).

    A file that turns invalid is reported and the last valid boards stay in
    force, so a typo does not silently stop every delivery.
    """

    def __init__(self, path: Path, environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.environ = environ
        self._stamp: tuple[int, int, int] | None = None
        self._boards: tuple[Board, ...] = ()
        self.error: BoardsError | None = None

    def _current_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def boards(self) -> tuple[Board, ...]:
        stamp = self._current_stamp()
        if stamp != self._stamp or self._stamp is None:
            try:
                self._boards = load_boards(self.path, self.environ)
                self.error = None
                self._stamp = stamp
            except BoardsError as exc:
                if self.error is None or str(exc) != str(self.error):
                    log.error("boards file not used, keeping the last valid boards: %s", exc)
                self.error = exc
                self._stamp = stamp
        return self._boards
