"""The job boards that subscribed: ``boards.toml``, validated, and re-read when it changes.

Every mistake is reported with the board and the key (``board 'acme': url: must
be http or https``), all at once. A secret never appears in a message, a log
line or a repr: ``Secret`` (and ``Key``, an IndexNow key) hides it, and only the
sender asks for its value.

A board's ``kind`` selects its channel: ``webhook`` (the default), ``indexnow`` or
``google-indexing`` (its key file is watched like the boards file: a change re-reads both);
every hub of ``SYNDICATE_WEBSUB_HUBS`` is a ``websub`` board too, with no entry here
(``websub_boards``).
A wrong webhook entry makes the whole file unusable, as it always did (the worker
refuses to start; a reload keeps the last valid boards). A wrong channel entry (an
unknown or unsupported ``kind``, a bad IndexNow key, a key file that is not a service
account's) leaves only that board out:
it is reported with its name, key and reason, and the other boards run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syndicate.outputs.filters import fold
from syndicate.push.serviceaccount import ServiceAccount, read_key_file, read_service_account
from syndicate.redact import redact_url

log = logging.getLogger(__name__)

EVENTS = ("posting.created", "posting.updated", "posting.closed")
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the Standard Webhooks spec's range
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
WEBHOOK, INDEXNOW, GOOGLE = "webhook", "indexnow", "google-indexing"
KINDS = (WEBHOOK, INDEXNOW, GOOGLE)
WEBSUB = "websub"  # a board per hub of SYNDICATE_WEBSUB_HUBS (``websub_boards``), never a boards.toml entry
_KEYS = {"name", "kind", "url", "secret", "secret_env", "events", "tags"}
_INDEXNOW_KEYS = {"name", "kind", "key", "key_env", "endpoint"}
_GOOGLE_KEYS = {"name", "kind", "credentials_file", "credentials_env", "daily_quota", "endpoint"}
INDEXNOW_ENDPOINT = "https://api.indexnow.org/indexnow"
GOOGLE_ENDPOINT = "https://indexing.googleapis.com/v3/urlNotifications:publish"
DEFAULT_DAILY_QUOTA = 200  # publish calls per UTC day: Google's default quota for a project
_INDEXNOW_KEY = re.compile(r"[a-zA-Z0-9-]{8,128}\Z")  # the protocol's key format


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


class Key(Secret):
    """An IndexNow key: public once served at ``/<key>.txt``, but never printed by the worker."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Key('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Board:
    name: str
    url: str  # where it is sent: a webhook's URL, an IndexNow endpoint
    secret: Secret | None = field(default=None, repr=False)  # webhook boards
    events: frozenset[str] = frozenset(EVENTS)
    tags: frozenset[str] = frozenset()  # empty: every posting
    kind: str = WEBHOOK
    key: Key | None = field(default=None, repr=False)  # indexnow boards
    account: ServiceAccount | None = field(default=None, repr=False)  # google-indexing boards
    daily_quota: int = 0  # google-indexing boards: publish calls per UTC day
    credentials_path: Path | None = None  # google-indexing boards: the key file, watched for changes

    def __repr__(self) -> str:  # a URL may carry credentials: never shown whole
        shown = f"name={self.name!r}, kind={self.kind!r}, url={redact_url(self.url)!r}"
        return f"Board({shown}, events={sorted(self.events)}, tags={sorted(self.tags)})"

    @property
    def config_digest(self) -> str:
        """What a 403 disabled the board under: a change of its entry or of its key file enables it."""
        account = self.account.digest if self.account else ""
        parts = (self.name, self.kind, self.url, account, str(self.daily_quota))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

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


def check_indexnow_key(value: str) -> str | None:
    """Why ``value`` is not an IndexNow key, or None when it is one (the value itself is never repeated)."""
    if _INDEXNOW_KEY.match(value):
        return None
    return f"must be 8 to 128 characters of a-z, A-Z, 0-9 and '-', got {len(value)} character(s)"


def _kind(entry: dict, where: str, problems: list[str]) -> str | None:
    kind = entry.get("kind", WEBHOOK)
    if kind in KINDS:
        return kind
    if kind == WEBSUB:
        problems.append(f"{where}: kind: websub boards come from SYNDICATE_WEBSUB_HUBS, not boards.toml")
    else:
        problems.append(f"{where}: kind: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return None


def websub_boards(hubs: Iterable[str]) -> tuple[Board, ...]:
    """A board of kind ``websub`` per hub URL (``SYNDICATE_WEBSUB_HUBS``), one per hub however its URL
    is spelled (the host's case and IDNA form, a default port, an empty path). Its name depends on that
    URL alone, so adding a hub never renames another: ``websub:`` and the host (``:port`` if not the
    default) for an https hub at ``/``; any other URL adds ``~`` and 8 hex digits of its SHA-256, so a
    token in a hub's path never becomes a name shown in logs and metrics
    ('https://pubsubhubbub.appspot.com/' -> 'websub:pubsubhubbub.appspot.com',
    'http://127.0.0.1:8080/hub' -> 'websub:127.0.0.1:8080~…'). A boards.toml name cannot contain ':'."""
    boards: list[Board] = []
    seen: set[str] = set()
    for url in hubs:
        key = _hub_key(url)
        if key in seen:
            continue  # the same hub spelled again
        seen.add(key)
        parts = urlsplit(key)
        name = f"websub:{parts.netloc[:80]}"
        if parts.scheme != "https" or parts.path != "/":
            name += f"~{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        boards.append(Board(name, url, kind=WEBSUB))
    return tuple(boards)


def _hub_key(url: str) -> str:
    """One spelling of a hub's URL: the host lowercased in its IDNA form, no default port, '/' for no path."""
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


def _indexnow_board(
    entry: dict, name: str, where: str, environ: Mapping[str, str], problems: list[str]
) -> Board | None:
    before = len(problems)
    for key in sorted(set(entry) - _INDEXNOW_KEYS):
        if key in _KEYS:
            problems.append(f"{where}: {key}: a webhook key, not used by an indexnow board")
        else:
            problems.append(f"{where}: {key}: unknown key (known: {', '.join(sorted(_INDEXNOW_KEYS))})")
    endpoint = _http_url(entry, "endpoint", INDEXNOW_ENDPOINT, where, problems)
    key = _credential(entry, "key", check_indexnow_key, where, environ, problems)
    if len(problems) > before:
        return None
    return Board(name, endpoint, kind=INDEXNOW, key=Key(key))


def _google_board(
    entry: dict, name: str, where: str, environ: Mapping[str, str], base: Path, problems: list[str]
) -> Board | None:
    before = len(problems)
    for key in sorted(set(entry) - _GOOGLE_KEYS):
        problems.append(f"{where}: {key}: unknown key (known: {', '.join(sorted(_GOOGLE_KEYS))})")
    endpoint = _http_url(entry, "endpoint", GOOGLE_ENDPOINT, where, problems)
    quota = entry.get("daily_quota", DEFAULT_DAILY_QUOTA)
    if not isinstance(quota, int) or isinstance(quota, bool) or quota < 1:
        problems.append(f"{where}: daily_quota: must be a whole number of calls, at least 1, got {quota!r}")
    account, path = None, None
    if "credentials_file" in entry and "credentials_env" in entry:
        problems.append(f"{where}: credentials_file: give credentials_file or credentials_env, not both")
    elif "credentials_env" in entry:
        variable = entry["credentials_env"]
        if not isinstance(variable, str) or not variable:
            problems.append(f"{where}: credentials_env: must name an environment variable")
        elif variable not in environ:
            problems.append(f"{where}: credentials_env: the variable {variable} is not set")
        else:
            account, reason = read_service_account(environ[variable])
            if reason:
                problems.append(f"{where}: credentials_env: the value of {variable} {reason}")
    elif "credentials_file" in entry:
        given = entry["credentials_file"]
        if not isinstance(given, str) or not given:
            problems.append(f"{where}: credentials_file: must be a path (relative to the boards file's folder)")
        else:
            path = base / given
            text, reason = read_key_file(path)
            if text is not None:
                account, reason = read_service_account(text)
            if reason:
                problems.append(f"{where}: credentials_file: {given} {reason}")
    else:
        problems.append(f"{where}: credentials_file: missing (give credentials_file or credentials_env)")
    if len(problems) > before:
        return None
    return Board(name, endpoint, kind=GOOGLE, account=account, daily_quota=quota, credentials_path=path)


def _http_url(entry: Mapping[str, Any], field: str, default: str | None, where: str, problems: list[str]) -> Any:
    """``entry[field]`` (or ``default``), reported unless an absolute http(s) URL; never shown with credentials."""
    url = entry.get(field, default)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact_url(url) if isinstance(url, str) else url
        problems.append(f"{where}: {field}: must be an absolute http or https URL, got {shown!r}")
    return url


def _credential(
    entry: Mapping[str, Any],
    field: str,
    check: Callable[[str], str | None],
    where: str,
    environ: Mapping[str, str],
    problems: list[str],
) -> str | None:
    """A secret given as ``field`` or by the variable ``field_env`` (exactly one), checked by ``check``;
    a message never repeats the value."""
    env_field = f"{field}_env"
    value = None
    if field in entry and env_field in entry:
        problems.append(f"{where}: {field}: give {field} or {env_field}, not both")
    elif env_field in entry:
        variable = entry[env_field]
        if not isinstance(variable, str) or not variable:
            problems.append(f"{where}: {env_field}: must name an environment variable")
        elif variable not in environ:
            problems.append(f"{where}: {env_field}: the variable {variable} is not set")
        else:
            value = environ[variable].strip()
            reason = check(value)
            if reason:
                problems.append(f"{where}: {env_field}: the value of {variable} {reason}")
    elif field in entry:
        value = entry[field]
        reason = check(value) if isinstance(value, str) else "must be a string"
        if reason:
            problems.append(f"{where}: {field}: {reason}")
    else:
        problems.append(f"{where}: {field}: missing (give {field} or {env_field})")
    return value


def _board(
    entry: Any, index: int, environ: Mapping[str, str], base: Path, problems: list[str], left_out: list[str]
) -> Board | None:
    """One board, or None; a webhook entry's mistakes go to ``problems`` (the file is unusable), a
    channel entry's to ``left_out`` (that board alone is left out)."""
    if not isinstance(entry, dict):
        problems.append(f"boards[{index}]: must be a table")
        return None
    channel = entry.get("kind", WEBHOOK) != WEBHOOK
    if channel:
        problems = left_out
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"boards[{index}]: name: must be 1-100 letters, digits, '.', '_' or '-', got {name!r}")
        return None
    where = f"board {name!r}"
    if channel:
        kind = _kind(entry, where, problems)
        if kind == GOOGLE:
            return _google_board(entry, name, where, environ, base, problems)
        return _indexnow_board(entry, name, where, environ, problems) if kind == INDEXNOW else None
    before = len(problems)
    for key in sorted(set(entry) - _KEYS):
        if key in _INDEXNOW_KEYS:
            problems.append(f"{where}: {key}: an indexnow key, not used by a webhook board")
        else:
            problems.append(f"{where}: {key}: unknown key (known: {', '.join(sorted(_KEYS))})")
    url = _http_url(entry, "url", None, where, problems)
    secret = _credential(entry, "secret", check_secret, where, environ, problems)
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


@dataclass(frozen=True)
class BoardsConfig:
    """The usable boards of a file, and why the channel boards left out were left out."""

    boards: tuple[Board, ...]
    left_out: tuple[str, ...] = ()
    key_files: tuple[Path, ...] = ()  # key files named by the boards left out (a fix there is a change)


def parse_boards(text: str, path: Path, environ: Mapping[str, str] | None = None) -> tuple[Board, ...]:
    """The boards of one ``boards.toml`` text; ``BoardsError`` lists every problem."""
    return parse_config(text, path, environ).boards


def parse_config(text: str, path: Path, environ: Mapping[str, str] | None = None) -> BoardsConfig:
    """The boards of one ``boards.toml`` text and the channel boards left out; ``BoardsError`` lists
    every problem that makes the file unusable."""
    config, problems = _parse(text, path, environ)
    if problems:
        raise BoardsError(path, problems)
    return config


def _parse(
    text: str, path: Path, environ: Mapping[str, str] | None, only: str | None = None
) -> tuple[BoardsConfig, list[str]]:
    """The boards of ``text`` and what makes it unusable; ``only``: entries of that kind alone."""
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
    left_out: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if only is not None and (not isinstance(entry, dict) or entry.get("kind", WEBHOOK) != only):
            continue
        board = _board(entry, index, environ, path.parent, problems, left_out)
        if board is None:
            continue
        if board.name in seen:
            problems.append(f"board {board.name!r}: name: duplicate (names must be unique)")
            continue
        seen.add(board.name)
        boards.append(board)
    named = {b.name for b in boards}
    key_files = tuple(
        path.parent / e["credentials_file"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("credentials_file"), str) and e.get("name") not in named
    )
    return BoardsConfig(tuple(boards), tuple(left_out), key_files), problems


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardsError(path, [f"cannot be read: {exc}"]) from None


def load_boards(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Board, ...]:
    """The boards of the file at ``path``; no file means no boards."""
    return load_config(path, environ).boards


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> BoardsConfig:
    """The boards of the file at ``path`` and the channel boards left out; no file means no boards."""
    text = _read(path)
    return BoardsConfig(()) if text is None else parse_config(text, path, environ)


def indexnow_keys(path: Path, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The keys of the valid indexnow boards of the file at ``path``, whatever the webhook entries
    say (the web process serves them; a webhook secret_env set only for the worker must not hide them)."""
    try:
        text = _read(path)
        config, _ = _parse(text, path, environ, only=INDEXNOW) if text is not None else (BoardsConfig(()), [])
    except BoardsError:
        return frozenset()
    return frozenset(b.key.reveal() for b in config.boards if b.kind == INDEXNOW and b.key is not None)


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
        self.left_out: tuple[str, ...] = ()  # channel boards left out of the last valid read, and why
        self._unread: tuple[Path, ...] = ()  # key files named by boards left out: watched for a fix

    def _current_stamp(self) -> tuple | None:
        """The file's stamp, and those of the key files its boards read (a new key is a change too)."""
        stamp = _stamp(self.path)
        if stamp is None:
            return None
        keys = tuple(b.credentials_path for b in self._boards if b.credentials_path is not None)
        return (stamp, *[(str(p), _stamp(p)) for p in keys + self._unread])

    def boards(self) -> tuple[Board, ...]:
        stamp = self._current_stamp()
        if stamp != self._stamp or self._stamp is None:
            try:
                config = load_config(self.path, self.environ)
                self._boards, self.left_out = config.boards, config.left_out
                self._unread = config.key_files
                self.error = None
                self._stamp = self._current_stamp()  # with the key files of the boards just read
                for reason in self.left_out:  # at start and at every reload while it stays wrong
                    log.error("%s: board left out, the other boards run: %s", self.path, reason)
            except BoardsError as exc:
                if self.error is None or str(exc) != str(self.error):
                    log.error("boards file not used, keeping the last valid boards: %s", exc)
                self.error = exc
                self._stamp = stamp
        return self._boards
