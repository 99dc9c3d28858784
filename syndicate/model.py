"""The one model object that crosses the pipeline: a frozen ``Posting``.

Built once by the reader (from a file) or by ``posting_from_record`` (from the
parse cache); nothing downstream re-reads YAML or re-renders Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

EMPLOYMENT_TYPES = (
    "FULL_TIME",
    "PART_TIME",
    "CONTRACTOR",
    "TEMPORARY",
    "INTERN",
    "VOLUNTEER",
    "PER_DIEM",
    "OTHER",
)
SALARY_UNITS = ("HOUR", "DAY", "WEEK", "MONTH", "YEAR")


class Remote(StrEnum):
    """Where the work happens: on site only, telecommute allowed, or fully remote."""

    NO = "no"
    ALLOWED = "allowed"
    ONLY = "only"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    url: str | None = None
    logo: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """A place of work; ``text`` holds a location written as free text."""

    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    text: str | None = None

    @property
    def is_structured(self) -> bool:
        return self.text is None

    def label(self) -> str:
        """A one-line human label, e.g. ``Berlin, BE, DE``."""
        if self.text is not None:
            return self.text
        parts = (self.street, self.postal_code, self.city, self.region, self.country)
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class ApplicantLocation:
    """Where a remote applicant may live: schema.org ``Country`` or ``AdministrativeArea``."""

    kind: str  # "Country" | "AdministrativeArea"
    name: str


@dataclass(frozen=True, slots=True)
class Salary:
    currency: str
    unit: str  # one of SALARY_UNITS
    min: float | None = None
    max: float | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """One job posting, normalised and validated.

    ``date_posted`` and ``updated`` are resolved against the store by the
    loader: a file without ``date_posted`` gets the time it was first seen,
    and ``updated`` is the time its content last changed.
    """

    id: str
    source: str  # the file, relative to the postings folder
    title: str
    company: Company
    description_html: str
    content_hash: str
    locations: tuple[Address, ...] = ()
    remote: Remote = Remote.NO
    applicant_locations: tuple[ApplicantLocation, ...] = ()
    employment_types: tuple[str, ...] = ()
    salary: Salary | None = None
    date_posted: datetime | None = None
    valid_through: datetime | None = None
    updated: datetime | None = None
    status: Status = Status.OPEN
    tags: tuple[str, ...] = ()
    apply_url: str | None = None
    direct_apply: bool | None = None
    department: str | None = None
    experience: str | None = None
    education: str | None = None
    extra: tuple[tuple[str, Any], ...] = field(default=())
    date_posted_given: bool = False

    @property
    def slug(self) -> str:
        """The URL path segment of this posting (``/jobs/<slug>``)."""
        return self.id

    def is_expired_at(self, now: datetime) -> bool:
        return self.valid_through is not None and now > self.valid_through

    def is_open_at(self, now: datetime) -> bool:
        """Open postings are the ones every output lists at ``now``."""
        return self.status is Status.OPEN and not self.is_expired_at(now)

    @property
    def is_dated(self) -> bool:
        return self.updated is not None

    def set_dates(self, date_posted: datetime, updated: datetime) -> None:
        """Fill in the store's dates: once, by the loader, before any snapshot publishes it.

        A frozen object is assigned here the way ``__post_init__`` would, because
        copying every posting of a 10,000-posting load with ``replace`` costs a
        fifth of a warm start.
        """
        if self.is_dated:
            raise AttributeError(f"posting {self.id!r} already has its dates")
        object.__setattr__(self, "date_posted", date_posted)
        object.__setattr__(self, "updated", updated)


# --- the parse-cache record: a JSON-safe dict that rebuilds a Posting cheaply ---

_DATES = ("date_posted", "valid_through", "updated")
_REMOTE = {member.value: member for member in Remote}  # a dict look-up: Enum() costs 1 us a call
_STATUS = {member.value: member for member in Status}


def _plain(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def posting_to_record(posting: Posting) -> dict[str, Any]:
    """A JSON-safe dict of every field (no deep copies: the values are immutable)."""
    record = _plain(posting)
    record["company"] = _plain(posting.company)
    record["locations"] = [_plain(a) for a in posting.locations]
    record["applicant_locations"] = [_plain(a) for a in posting.applicant_locations]
    record["salary"] = _plain(posting.salary) if posting.salary else None
    record["remote"] = posting.remote.value
    record["status"] = posting.status.value
    for name in _DATES:
        value = getattr(posting, name)
        record[name] = value.isoformat() if value else None
    record["extra"] = [list(item) for item in posting.extra]
    return record


def posting_from_record(record: dict[str, Any]) -> Posting:
    """Inverse of ``posting_to_record``; the record was validated when it was made."""
    r = dict(record)
    r["company"] = Company(**r["company"])
    r["locations"] = tuple(Address(**a) for a in r["locations"])
    r["remote"] = _REMOTE[r["remote"]]
    r["applicant_locations"] = tuple(ApplicantLocation(**a) for a in r["applicant_locations"])
    r["employment_types"] = tuple(r["employment_types"])
    r["salary"] = Salary(**r["salary"]) if r["salary"] else None
    r["status"] = _STATUS[r["status"]]
    r["tags"] = tuple(r["tags"])
    r["extra"] = tuple((k, v) for k, v in r["extra"])
    for name in _DATES:
        r[name] = datetime.fromisoformat(r[name]) if r[name] else None
    return Posting(**r)
