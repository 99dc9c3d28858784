"""Filters on the postings: parsed from a query string, validated, canonical.

Every feed, the API and the index take the same six filters. A filter has one
canonical query string (keys in a fixed order, repeated values sorted), so two
spellings of one filter share one cache entry. A value that cannot be
understood is a ``FilterError`` that names the parameter, the value and what
would have been accepted: an empty feed would hide the mistake.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from syndicate.model import EMPLOYMENT_TYPES, Posting, Remote
from syndicate.postings.spellings import EMPLOYMENT_ALIASES

FILTER_KEYS = ("tag", "company", "location", "remote", "type", "q")
REPEATABLE = frozenset({"tag", "type"})
MAX_VALUE_CHARS = 200
MAX_VALUES = 20
MAX_PAGE = 100_000

# remote=1 asks for jobs that can be done remotely (allowed or fully remote);
# remote=only for fully remote ones; remote=0 for jobs on site only.
REMOTE_MATCHES = {"1": (Remote.ALLOWED, Remote.ONLY), "only": (Remote.ONLY,), "0": (Remote.NO,)}
REMOTE_CANONICAL = {"true": "1", "yes": "1", "false": "0", "no": "0"} | {v: v for v in REMOTE_MATCHES}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FilterError(ValueError):
    """A query parameter the filters cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class Filter:
    """What a request asks for. Empty: every open posting."""

    tags: tuple[str, ...] = ()
    company: str | None = None
    location: str | None = None
    remote: str | None = None  # canonical: "1", "only" or "0"
    types: tuple[str, ...] = ()
    q: str | None = None

    @property
    def is_empty(self) -> bool:
        return self == NO_FILTER

    def pairs(self) -> list[tuple[str, str]]:
        """The canonical (key, value) pairs, in the order of ``FILTER_KEYS``."""
        out = [("tag", t) for t in self.tags]
        for key, value in (("company", self.company), ("location", self.location), ("remote", self.remote)):
            if value is not None:
                out.append((key, value))
        out.extend(("type", t) for t in self.types)
        if self.q is not None:
            out.append(("q", self.q))
        return out

    def query(self, page: int = 1) -> str:
        """The canonical query string ('' for no filter on page 1), without '?'."""
        pairs = self.pairs()
        if page > 1:
            pairs.append(("page", str(page)))
        return urlencode(pairs)

    def matches(self, posting: Posting) -> bool:
        if self.tags and not any(t in folded_tags(posting.tags) for t in self.tags):
            return False
        if self.types and not any(t in posting.employment_types for t in self.types):
            return False
        if self.remote is not None and posting.remote not in REMOTE_MATCHES[self.remote]:
            return False
        if self.company is not None and fold(posting.company.name) != self.company:
            return False
        if self.location is not None and not _words(self.location).search(location_text(posting)):
            return False
        if self.q is not None:
            text = search_text(posting)
            return all(word in text for word in self.q.split())
        return True

    def select(self, postings: Iterable[Posting]) -> list[Posting]:
        if self.is_empty:
            return list(postings)
        return [p for p in postings if self.matches(p)]


NO_FILTER = Filter()


@lru_cache(maxsize=1024)
def _words(value: str) -> re.Pattern[str]:
    """``value`` as whole words: 'de' finds the country DE, not 'Camden'."""
    return re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)")


def fold(text: str) -> str:
    """Case- and width-insensitive form for comparisons ('Straße' ~ 'STRASSE')."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


@lru_cache(maxsize=10_000)
def folded_tags(tags: tuple[str, ...]) -> frozenset[str]:
    """A posting's tags as the filter compares them ('Straße' and 'strasse' alike)."""
    return frozenset(fold(t) for t in tags)


# Folded texts per (kind, id, content hash). Bounded by clearing: entries are cheap to
# rebuild, and a key never holds the text itself, so the bound is a bound on memory.
_TEXTS: dict[tuple[str, str, str], str] = {}
_TEXTS_MAX = 20_000


def _folded(kind: str, posting: Posting, parts: Callable[[], Iterable[str]]) -> str:
    key = (kind, posting.id, posting.content_hash)
    text = _TEXTS.get(key)
    if text is None:
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        text = _TEXTS[key] = "\n".join(fold(part) for part in parts() if part)
    return text


def location_text(posting: Posting) -> str:
    """Every place named by the posting, folded: addresses and applicant locations."""

    def parts() -> Iterable[str]:
        for a in posting.locations:
            yield from (a.street, a.city, a.region, a.postal_code, a.country, a.text)  # type: ignore[misc]
        yield from (a.name for a in posting.applicant_locations)

    return _folded("location", posting, parts)


_TAG = re.compile(r"<[^>]*>")


def search_text(posting: Posting) -> str:
    """What ``q`` searches: title, company, department, tags, places and the description's text."""

    def parts() -> Iterable[str]:
        yield from (posting.title, posting.company.name, posting.department or "", " ".join(posting.tags))
        yield location_text(posting)
        yield html.unescape(_TAG.sub(" ", posting.description_html))

    return _folded("search", posting, parts)


def _one_value(key: str, values: Sequence[str]) -> str:
    if len(values) > 1:
        raise FilterError(f"{key!r} may be given once, got {len(values)} values")
    return values[0]


def _clean(key: str, value: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise FilterError(f"{key!r} is longer than {MAX_VALUE_CHARS} characters")
    if _CONTROL.search(value):
        raise FilterError(f"{key!r} contains a control character")
    return value.strip()


def _employment_type(value: str) -> str:
    key = value.strip().upper().replace("-", "_").replace(" ", "_")
    key = EMPLOYMENT_ALIASES.get(key.replace("_", ""), key)
    if key not in EMPLOYMENT_TYPES:
        raise FilterError(f"'type' must be one of {', '.join(EMPLOYMENT_TYPES)} (or e.g. full-time), got {value!r}")
    return key


def parse_filter(args: Mapping[str, Sequence[str]], *, allowed: Iterable[str] = (), strict: bool = True) -> Filter:
    """A ``Filter`` from query arguments (key -> list of values).

    Empty values are ignored (an HTML form sends every field). With ``strict``,
    a parameter that is neither a filter nor in ``allowed`` is an error, so a
    typo such as ``tags=rust`` is not silently an unfiltered feed.
    """
    known = set(FILTER_KEYS) | set(allowed)
    unknown = sorted(k for k in args if k not in known)
    if strict and unknown:
        raise FilterError(f"unknown parameter {unknown[0]!r}; the filters are {', '.join(FILTER_KEYS)}")
    given: dict[str, list[str]] = {}
    for key in FILTER_KEYS:
        cleaned = [_clean(key, v) for v in args.get(key, ())]
        cleaned = [v for v in cleaned if v]
        if len(cleaned) > MAX_VALUES:
            raise FilterError(f"{key!r} may be given at most {MAX_VALUES} times")
        if cleaned:
            given[key] = cleaned
    tags = tuple(sorted({fold(t) for t in given.get("tag", ())}))
    types = tuple(sorted({_employment_type(t) for t in given.get("type", ())}))
    remote = None
    if "remote" in given:
        raw = _one_value("remote", given["remote"]).lower()
        if raw not in REMOTE_CANONICAL:
            raise FilterError(f"'remote' must be 1 (remote possible), only (fully remote) or 0 (on site), got {raw!r}")
        remote = REMOTE_CANONICAL[raw]
    company = fold(_one_value("company", given["company"])) if "company" in given else None
    location = fold(_one_value("location", given["location"])) if "location" in given else None
    q = " ".join(fold(_one_value("q", given["q"])).split()) if "q" in given else None
    return Filter(tags, company, location, remote, types, q or None)


def parse_page(args: Mapping[str, Sequence[str]]) -> int:
    """The 1-based ``page`` parameter; anything but a plain positive number is an error."""
    values = [v for v in args.get("page", ()) if v.strip()]
    if not values:
        return 1
    raw = _one_value("page", values).strip()
    fits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_PAGE))  # int() of 5,000 digits raises
    if not fits or not 1 <= int(raw) <= MAX_PAGE:
        raise FilterError(f"'page' must be a whole number from 1 to {MAX_PAGE}, got {raw[:20]!r}")
    return int(raw)
