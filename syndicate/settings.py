"""Every setting in one place: name, default, help text, parser.

Settings load in one order: defaults, then the environment, then explicit
overrides (what tests pass to ``create_app``). Each setting is declared once, as a
field of ``Settings``; the table in ``docs/settings.md`` is generated from them
(``python -m syndicate.settings``) and a test keeps the two in sync.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syndicate.postings.limits import DEFAULT_LIMITS, Limits
from syndicate.redact import redact_url

REPO_ROOT = Path(__file__).resolve().parent.parent
# Relative paths are taken from the checkout's root (run from a clone or an editable install), and from
# the working directory where the package was installed (``pip install .``: there is no checkout).
BASE_DIR = REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {raw!r}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be zero or more, got {raw!r}")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(f"must be zero or more, got {raw!r}")
    return value


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {raw!r}") from exc
    return raw


def _language(raw: str) -> str:
    """A CLDR locale, as the BCP 47 tag pages carry in ``<html lang>`` (``fr_CA`` reads as ``fr-CA``)."""
    if raw == "en":  # the default: lint and the worker load settings without Babel
        return raw
    from babel import Locale, UnknownLocaleError

    tag = raw.strip().replace("_", "-")
    # CLDR's 'root' names no language, and Babel reads 'und' (undetermined) as a guess (en-US)
    if tag.split("-", 1)[0].lower() in ("root", "und"):
        raise ValueError(f"{raw!r} names no language; give a locale such as en, de or fr-CA")
    try:
        locale = Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown language {raw!r}; give a locale such as en, de or fr-CA") from exc
    if locale.language == "root":
        raise ValueError(f"{raw!r} names no language; give a locale such as en, de or fr-CA")
    return "-".join(part for part in (locale.language, locale.script, locale.territory, locale.variant) if part)


def _optional_str(raw: str) -> str | None:
    return raw.strip() or None


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"must be an absolute http(s) URL without query or fragment, got {redact_url(raw)!r}")
    try:
        parts.port  # noqa: B018 (urllib checks the port's range when it is read)
    except ValueError:
        raise ValueError(f"has a port out of range, got {redact_url(raw)!r}") from None
    return raw


def _base_url(raw: str) -> str | None:
    raw = raw.strip()
    return _http_url(raw).rstrip("/") if raw else None


def _seconds_list(raw: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in raw.split(",") if part.strip())
    if not values or any(v < 0 or v != v for v in values):
        raise ValueError(f"must be comma-separated seconds, zero or more, got {raw!r}")
    return values


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"must be more than zero, got {raw!r}")
    return value


def _host_list(raw: str) -> tuple[str, ...]:
    hosts = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for host in hosts:
        if "/" in host or (":" in host.strip("[]") and not host.startswith("[")):
            raise ValueError(f"must be host names without scheme, path or port, got {host!r}")
    return hosts


def _url_list(raw: str) -> tuple[str, ...]:
    urls = tuple(_http_url(part.strip()) for part in raw.split(",") if part.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:  # every feed advertises a hub's URL
            raise ValueError(f"a hub URL is shown to every subscriber: no credentials in it, got {redact_url(url)!r}")
    return urls


@dataclass(frozen=True)
class Setting:
    """One configurable value: its environment variable, default (as written there), parser and help."""

    env: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


def setting(env: str, default: str, help: str, parse: Callable[[str], Any] = str) -> Any:
    """A field of ``Settings`` declared once: its type on the left, everything else here."""
    return field(metadata={"setting": Setting(env, default, help, parse)})


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one process. Each field is declared once, in the order of the table."""

    postings_dir: Path = setting(
        "SYNDICATE_POSTINGS_DIR",
        "postings",
        "Folder of posting files (relative paths are taken from the repository root).",
        Path,
    )
    database_url: str | None = setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy database URL; empty: a SQLite file `syndicate.db` in the instance folder.",
        _optional_str,
    )
    database_timeout: float = setting(
        "SYNDICATE_DATABASE_TIMEOUT",
        "3",
        "Seconds a database connection may take to open (and, on PostgreSQL, a write to be acknowledged) "
        "before the database counts as away; the web keeps serving meanwhile.",
        _positive_float,
    )
    instance_dir: Path = setting(
        "SYNDICATE_INSTANCE_DIR",
        "instance",
        "Folder for local state (the default SQLite database); relative to the repository root.",
        Path,
    )
    timezone: str = setting(
        "SYNDICATE_TIMEZONE",
        "UTC",
        "IANA time zone for dates and datetimes written without an offset in posting files.",
        _timezone,
    )
    max_posting_bytes: int = setting(
        "SYNDICATE_MAX_POSTING_BYTES",
        str(1024 * 1024),
        "Largest posting file accepted, in bytes; a larger file is reported and left out.",
        _positive_int,
    )
    max_front_matter_bytes: int = setting(
        "SYNDICATE_MAX_FRONT_MATTER_BYTES",
        str(DEFAULT_LIMITS.front_matter_bytes),
        "Largest front matter (the YAML between the `---` lines) accepted, in bytes.",
        _positive_int,
    )
    max_keys: int = setting(
        "SYNDICATE_MAX_KEYS",
        str(DEFAULT_LIMITS.keys),
        "Most keys a posting's front matter may have, nested mappings included.",
        _positive_int,
    )
    max_tags: int = setting(
        "SYNDICATE_MAX_TAGS",
        str(DEFAULT_LIMITS.tags),
        "Most tags a posting may have.",
        _positive_int,
    )
    max_locations: int = setting(
        "SYNDICATE_MAX_LOCATIONS",
        str(DEFAULT_LIMITS.locations),
        "Most entries each of a posting's `location` and `applicant_locations` may have.",
        _positive_int,
    )
    max_markup: int = setting(
        "SYNDICATE_MAX_MARKUP",
        str(DEFAULT_LIMITS.markup),
        'Most lines, inline markup characters (`*`, `_`, `~`, `[`, backtick, `<`, `&`, `"`) and autolink starts '
        "(`www.`, `://`, `@`) a description may have; each can make an element, and rendering costs per element.",
        _positive_int,
    )
    max_nesting: int = setting(
        "SYNDICATE_MAX_NESTING",
        str(DEFAULT_LIMITS.nesting),
        "Deepest nesting of quotes, lists and emphasis a description may render to.",
        _positive_int,
    )
    max_table_cells: int = setting(
        "SYNDICATE_MAX_TABLE_CELLS",
        str(DEFAULT_LIMITS.table_cells),
        "Most table cells a description may render to (each row counted at its header's width).",
        _positive_int,
    )
    max_mojibake: int = setting(
        "SYNDICATE_MAX_MOJIBAKE",
        str(DEFAULT_LIMITS.mojibake),
        "Most sequences that look like mojibake one value may have repaired; a value with more is kept as "
        "written, with a warning (repairing costs about a microsecond a byte).",
        _positive_int,
    )
    reload_interval: float = setting(
        "SYNDICATE_RELOAD_INTERVAL",
        "1.0",
        "Seconds between checks of the postings folder for changes (0: check on every request).",
        _non_negative_float,
    )
    base_url: str | None = setting(
        "SYNDICATE_BASE_URL",
        "",
        "Public origin for absolute URLs in every output (e.g. `https://jobs.example`); empty: the request's.",
        _base_url,
    )
    cached_hosts: int = setting(
        "SYNDICATE_CACHED_HOSTS",
        "4",
        "Without `SYNDICATE_BASE_URL`: how many Host names (those asked for most) may keep rendered answers "
        "in the cache; answers for other hosts are rendered each time and never push theirs out.",
        _positive_int,
    )
    allowed_hosts: tuple[str, ...] = setting(
        "SYNDICATE_ALLOWED_HOSTS",
        "",
        "Comma-separated Host names answered (`.example.com` also takes its subdomains); others get 400. "
        "Empty: every host. `/healthz` and `/readyz` answer any host (probes call by address).",
        _host_list,
    )
    site_name: str = setting(
        "SYNDICATE_SITE_NAME",
        "Careers",
        "Name of the site in page titles and feeds.",
        str,
    )
    language: str = setting(
        "SYNDICATE_LANGUAGE",
        "en",
        "Language of the pages (a CLDR locale such as `en`, `de`, `fr-CA`): `<html lang>`, country and region "
        "names, salaries. Feeds, JSON-LD, the Indeed XML and the API keep the codes as written.",
        _language,
    )
    page_size: int = setting(
        "SYNDICATE_PAGE_SIZE",
        "50",
        "Postings per page of the RSS, Atom and JSON feeds, the API and the index (newest first; "
        "further pages are linked). The Indeed feed and the sitemap are never paged.",
        _positive_int,
    )
    websub_hubs: tuple[str, ...] = setting(
        "SYNDICATE_WEBSUB_HUBS",
        "",
        "Comma-separated WebSub hub URLs: advertised by every feed (`rel=hub`, in the document and Link header), "
        "and each a channel the worker publishes every changed feed to (board `websub:<host>`).",
        _url_list,
    )
    cache_max_age: int = setting(
        "SYNDICATE_CACHE_MAX_AGE",
        "60",
        "Seconds clients and proxies may reuse an answer (`Cache-Control: max-age`), "
        "shortened so no cache outlives a posting's `valid_through`.",
        _non_negative_int,
    )
    render_cache_mb: int = setting(
        "SYNDICATE_RENDER_CACHE_MB",
        "64",
        "Memory per web process for rendered outputs, in MiB (least recently used go first).",
        _positive_int,
    )
    boards_path: Path = setting(
        "SYNDICATE_BOARDS",
        "boards.toml",
        "The job boards' TOML file (relative paths from the repository root); no file: no boards. "
        "Re-read when it changes.",
        Path,
    )
    scan_interval: float = setting(
        "SYNDICATE_SCAN_INTERVAL",
        "60",
        "Seconds between the worker's full scans (besides the scan on every noticed file change and expiry).",
        _positive_float,
    )
    watch_interval: float = setting(
        "SYNDICATE_WATCH_INTERVAL",
        "0.5",
        "Seconds between the worker's cheap checks of the postings folder and boards file for changes.",
        _positive_float,
    )
    retry_schedule: tuple[float, ...] = setting(
        "SYNDICATE_RETRY_SCHEDULE",
        "0,5,300,1800,7200,18000,36000,50400,72000,86400",
        "Seconds before each delivery attempt (±20% jitter); after the last the delivery is failed, kept and "
        "replayable.",
        _seconds_list,
    )
    connect_timeout: float = setting(
        "SYNDICATE_CONNECT_TIMEOUT",
        "5",
        "Seconds a webhook attempt may take to connect.",
        _positive_float,
    )
    delivery_timeout: float = setting(
        "SYNDICATE_DELIVERY_TIMEOUT",
        "15",
        "Seconds a webhook attempt may take in all (an answer later than this is a timeout).",
        _positive_float,
    )
    delivery_concurrency: int = setting(
        "SYNDICATE_DELIVERY_CONCURRENCY",
        "8",
        "Webhook attempts in flight at once per worker (at most one per board and posting).",
        _positive_int,
    )
    lease_seconds: float = setting(
        "SYNDICATE_LEASE_SECONDS",
        "60",
        "Seconds a worker holds a delivery it is sending; a killed worker's deliveries are retried after this.",
        _positive_float,
    )

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def limits(self) -> Limits:
        return Limits(
            self.max_front_matter_bytes,
            self.max_keys,
            self.max_tags,
            self.max_locations,
            self.max_markup,
            self.max_nesting,
            self.max_table_cells,
            self.max_mojibake,
        )

    @property
    def standby_path(self) -> Path:
        """The local SQLite copy of the dates, for when a networked database is away (see ``dates``)."""
        return self.instance_dir / "standby.db"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_dir / 'syndicate.db'}"

    def __repr__(self) -> str:  # secrets never reach logs through a repr
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["database_url"]:
            from sqlalchemy.engine import make_url  # only here: lint loads settings without SQLAlchemy

            shown["database_url"] = make_url(shown["database_url"]).render_as_string(hide_password=True)
        return f"Settings({shown})"


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(Settings)}


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else BASE_DIR / path


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults, then ``environ`` (default: ``os.environ``), then ``overrides``."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for attr, setting in SETTINGS.items():
        if attr in overrides:
            value = overrides[attr]
            values[attr] = setting.parse(value) if isinstance(value, str) else value
            continue
        raw = environ.get(setting.env, setting.default)
        try:
            values[attr] = setting.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{setting.env}: {exc}") from exc
    if values["lease_seconds"] <= values["delivery_timeout"]:
        raise SettingsError(
            "SYNDICATE_LEASE_SECONDS must be longer than SYNDICATE_DELIVERY_TIMEOUT, or an attempt still in "
            "flight could be taken over by another worker"
        )
    for attr in ("postings_dir", "instance_dir", "boards_path"):
        values[attr] = _absolute(Path(values[attr]))
    return Settings(**values)


def settings_table() -> str:
    """The Markdown table of settings that docs/settings.md carries."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS.values():
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
